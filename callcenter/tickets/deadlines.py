"""Working-day deadlines and their colour (green / yellow / red).

Pure functions over the WorkCalendar, so ticket code, reports and tests agree
on what "5 working days" means across National Day and a 调休 Saturday.
"""

from __future__ import annotations

import enum
from datetime import datetime, time, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from callcenter.calendar import WorkCalendar
from callcenter.errors import CallCenterError
from callcenter.yamlfile import load_yaml, validate_document


class Nature(enum.StrEnum):
    CONSULTATION = "consultation"  # 咨询
    HELP = "help"  # 求助
    COMPLAINT = "complaint"  # 投诉
    REPORT = "report"  # 举报
    SUGGESTION = "suggestion"  # 建议
    PRAISE = "praise"  # 表扬


class Colour(enum.StrEnum):
    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"


class DeadlineError(CallCenterError):
    title = "Deadline not allowed"


class DeadlineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dispatch_hours: float = Field(12, gt=0, le=240)
    accept_working_days: int = Field(1, ge=1, le=30)
    handle_working_days: dict[Nature, int] = Field(
        default_factory=lambda: {
            Nature.CONSULTATION: 5,
            Nature.HELP: 5,
            Nature.COMPLAINT: 15,
            Nature.REPORT: 30,
            Nature.SUGGESTION: 15,
            Nature.PRAISE: 5,
        }
    )
    max_extension_working_days: int = Field(10, ge=0, le=60)
    yellow_share: float = Field(0.2, gt=0, lt=1)

    def handle_days(self, nature: Nature) -> int:
        return self.handle_working_days.get(nature, 15)


def load_deadlines(path: Path) -> DeadlineConfig:
    if not path.exists():
        return DeadlineConfig()
    doc = load_yaml(path)
    return validate_document(doc, DeadlineConfig, doc.data or {})


def end_of_working_days(calendar: WorkCalendar, start: datetime, days: int) -> datetime:
    """The end (23:59:59 local) of the ``days``-th working day after ``start``'s day."""
    day = calendar.local(start).date()
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            counted += 1
    return datetime.combine(day, time(23, 59, 59), tzinfo=calendar.zone)


def dispatch_due(config: DeadlineConfig, created: datetime) -> datetime:
    return created + timedelta(hours=config.dispatch_hours)


def accept_due(config: DeadlineConfig, calendar: WorkCalendar, dispatched: datetime) -> datetime:
    return end_of_working_days(calendar, dispatched, config.accept_working_days)


def handle_due(
    config: DeadlineConfig,
    calendar: WorkCalendar,
    nature: Nature,
    started: datetime,
    extension_days: int = 0,
) -> datetime:
    """When the reply is due; an approved extension adds working days, within the cap."""
    if extension_days > config.max_extension_working_days:
        raise DeadlineError(
            f"an extension of {extension_days} working days is more than the "
            f"{config.max_extension_working_days} allowed"
        )
    return end_of_working_days(calendar, started, config.handle_days(nature) + extension_days)


def colour(config: DeadlineConfig, start: datetime, due: datetime, now: datetime) -> Colour:
    """Red when overdue; yellow when less than ``yellow_share`` of the time is left."""
    if now > due:
        return Colour.RED
    total = (due - start).total_seconds()
    left = (due - now).total_seconds()
    if total <= 0 or left / total < config.yellow_share:
        return Colour.YELLOW
    return Colour.GREEN
