"""The working calendar: business hours, Chinese public holidays and 调休.

Shared by the IVR (open or closed?) and, later, ticket deadlines (working
days). Holidays and adjusted working days come from the maintained
``chinesecalendar`` package, overridable per city in ``config/calendar.yaml``.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from pydantic import BaseModel, ConfigDict, Field, field_validator

from callcenter.yamlfile import load_yaml, validate_document

log = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(?:([01]\d|2[0-3]):([0-5]\d)|(24):(00))$")


def _parse_ranges(ranges: list[str]) -> list[str]:
    for r in ranges:
        m = _RANGE.match(r)
        if not m:
            raise ValueError(f"{r!r} is not a range like 08:00-20:00 (24:00 ends a day)")
        end = (int(m[3] or m[5]), int(m[4] or m[6]))
        if (int(m[1]), int(m[2])) >= end:
            raise ValueError(f"{r!r} ends before it starts")
    return ranges


def _in_ranges(ranges: list[str], t: time) -> bool:
    hm = f"{t.hour:02d}:{t.minute:02d}"
    return any(r[:5] <= hm < r[6:] for r in ranges)


class CalendarConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Asia/Shanghai"
    business_hours: dict[str, list[str]] = Field(
        default_factory=lambda: {d: ["00:00-24:00"] for d in WEEKDAYS}
    )
    holiday_hours: list[str] = Field(default_factory=list)
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in v.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
            _parse_ranges(ranges)
        return v

    @field_validator("holiday_hours")
    @classmethod
    def _holiday_hours(cls, v: list[str]) -> list[str]:
        return _parse_ranges(v)


class WorkCalendar:
    def __init__(self, config: CalendarConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.timezone)

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone) if moment.tzinfo else moment.replace(tzinfo=self.zone)

    def is_holiday(self, day: date) -> bool:
        """A public holiday (not an ordinary weekend)."""
        if day in self.config.extra_workdays:
            return False
        if day in self.config.extra_holidays:
            return True
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            return False  # beyond the package's data: no public holiday known
        return bool(on_holiday and name is not None)

    def is_workday(self, day: date) -> bool:
        """A working day: Monday–Friday or an adjusted working day, and no holiday."""
        if day in self.config.extra_workdays:
            return True
        if day in self.config.extra_holidays:
            return False
        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            log.warning("chinesecalendar has no data for %s; weekends only", day)
            return day.weekday() < 5

    def is_open(self, moment: datetime) -> bool:
        """Is human service staffed at ``moment``?"""
        local = self.local(moment)
        day = local.date()
        if self.is_holiday(day):
            return _in_ranges(self.config.holiday_hours, local.time())
        weekday = WEEKDAYS[day.weekday()]
        if day.weekday() >= 5 and self.is_workday(day):
            weekday = "mon"  # an adjusted working day (调休) keeps working-day hours
        return _in_ranges(self.config.business_hours.get(weekday, []), local.time())


def load_calendar(path: Path) -> WorkCalendar:
    if not path.exists():
        return WorkCalendar(CalendarConfig())
    doc = load_yaml(path)
    return WorkCalendar(validate_document(doc, CalendarConfig, doc.data or {}))
