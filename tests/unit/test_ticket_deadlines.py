"""Working-day deadlines across National Day 2026 and its 调休 Saturday."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.calendar import CalendarConfig, WorkCalendar
from callcenter.errors import ConfigError
from callcenter.tickets.deadlines import (
    Colour,
    DeadlineError,
    Nature,
    accept_due,
    colour,
    dispatch_due,
    end_of_working_days,
    handle_due,
    load_deadlines,
)

SH = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
CAL = WorkCalendar(CalendarConfig())
CFG = load_deadlines(ROOT / "config" / "deadlines.yaml")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_the_shipped_config_has_the_source_documents_defaults():
    assert CFG.accept_working_days == 1 and CFG.dispatch_hours == 12
    assert CFG.handle_days(Nature.CONSULTATION) == 5
    assert CFG.handle_days(Nature.COMPLAINT) == 15
    assert CFG.handle_days(Nature.REPORT) == 30


def test_accepting_on_the_eve_of_national_day_waits_for_the_holiday_to_end():
    # Dispatched Wednesday 30 September; 1–7 October are National Day.
    assert accept_due(CFG, CAL, at("2026-09-30 10:00")) == at("2026-10-08 23:59:59")


def test_five_working_days_count_the_adjusted_saturday():
    # 8, 9, 10 (Saturday, a 调休 working day), 12, 13 October.
    due = handle_due(CFG, CAL, Nature.CONSULTATION, at("2026-09-30 16:30"))
    assert due == at("2026-10-13 23:59:59")


def test_a_complaint_counts_fifteen_working_days():
    # From Friday 9 Oct: 10 (Sat, worked), 12–16, 19–23, 26–29 October.
    due = handle_due(CFG, CAL, Nature.COMPLAINT, at("2026-10-09 09:00"))
    assert due == at("2026-10-29 23:59:59")


def test_weekends_without_adjustment_do_not_count():
    assert end_of_working_days(CAL, at("2026-11-27 18:00"), 1) == at("2026-11-30 23:59:59")


def test_city_overrides_in_the_calendar_win():
    city = WorkCalendar(CalendarConfig(extra_holidays=["2026-11-30"]))
    assert end_of_working_days(city, at("2026-11-27 18:00"), 1) == at("2026-12-01 23:59:59")


def test_dispatch_is_due_in_natural_hours():
    assert dispatch_due(CFG, at("2026-10-01 20:00")) == at("2026-10-02 08:00")


def test_an_extension_adds_working_days_within_the_cap():
    base = handle_due(CFG, CAL, Nature.CONSULTATION, at("2026-11-02 09:00"))
    extended = handle_due(CFG, CAL, Nature.CONSULTATION, at("2026-11-02 09:00"), extension_days=5)
    assert base == at("2026-11-09 23:59:59") and extended == at("2026-11-16 23:59:59")
    with pytest.raises(DeadlineError, match="more than the 10 allowed"):
        handle_due(CFG, CAL, Nature.CONSULTATION, at("2026-11-02 09:00"), extension_days=11)


@pytest.mark.parametrize(
    ("elapsed_share", "expected"),
    [
        (0.0, Colour.GREEN),
        (0.5, Colour.GREEN),
        (0.79, Colour.GREEN),
        (0.81, Colour.YELLOW),
        (1.0, Colour.YELLOW),
        (1.01, Colour.RED),
    ],
)
def test_colour_by_share_of_time_left(elapsed_share: float, expected: Colour):
    start, due = at("2026-11-02 09:00"), at("2026-11-12 09:00")
    now = start + (due - start) * elapsed_share
    assert colour(CFG, start, due, now) is expected


def test_a_city_sets_its_own_limits_in_yaml(tmp_path: Path):
    path = tmp_path / "deadlines.yaml"
    path.write_text(
        "accept_working_days: 2\nhandle_working_days:\n  consultation: 10\n  complaint: 15\n",
        encoding="utf-8",
    )
    guangdong = load_deadlines(path)
    assert guangdong.accept_working_days == 2
    assert guangdong.handle_days(Nature.CONSULTATION) == 10


def test_bad_limits_name_the_file_line_and_field(tmp_path: Path):
    path = tmp_path / "deadlines.yaml"
    path.write_text("handle_working_days:\n  gossip: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"deadlines.yaml:2:\d+: handle_working_days.gossip"):
        load_deadlines(path)


def test_the_deadline_is_always_later_than_its_start():
    start = at("2026-01-01 00:00")
    for i in range(0, 400, 7):
        moment = start + timedelta(days=i, hours=i % 24)
        for nature in Nature:
            assert handle_due(CFG, CAL, nature, moment) > moment
