"""The working calendar: Chinese public holidays, 调休, business hours, time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from pydantic import ValidationError

from callcenter.calendar import CalendarConfig, WorkCalendar, load_calendar
from callcenter.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SHANGHAI = ZoneInfo("Asia/Shanghai")

WEEKDAY_HOURS = {day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
HOURS = CalendarConfig(
    business_hours={**WEEKDAY_HOURS, "sat": ["09:00-17:00"], "sun": ["09:00-17:00"]}
)

NATIONAL_DAY_2026 = [date(2026, 10, d) for d in range(1, 8)]
ADJUSTED_SATURDAY = date(2026, 10, 10)  # 调休: worked to pay for National Day
ORDINARY_SATURDAY = date(2026, 11, 28)
ORDINARY_SUNDAY = date(2026, 11, 29)
ORDINARY_MONDAY = date(2026, 11, 30)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- holidays and working days ----------------------------------------------------------
@pytest.mark.parametrize("day", NATIONAL_DAY_2026, ids=str)
def test_national_day_week_is_a_holiday(day: date):
    cal = WorkCalendar(CalendarConfig())
    assert cal.is_holiday(day)
    assert not cal.is_workday(day)


def test_the_days_around_national_day_are_not_holidays():
    cal = WorkCalendar(CalendarConfig())
    assert not cal.is_holiday(date(2026, 9, 30))
    assert cal.is_workday(date(2026, 9, 30))
    assert not cal.is_holiday(date(2026, 10, 8))
    assert cal.is_workday(date(2026, 10, 8))


def test_chinesecalendar_makes_2026_10_10_an_adjusted_working_day():
    # What the package (the source of truth) says, so the next test asserts the right thing.
    assert ADJUSTED_SATURDAY.weekday() == 5
    assert chinese_calendar.is_workday(ADJUSTED_SATURDAY)
    assert chinese_calendar.get_holiday_detail(ADJUSTED_SATURDAY) == (False, "National Day")


def test_an_adjusted_saturday_is_a_working_day_not_a_holiday():
    cal = WorkCalendar(CalendarConfig())
    assert cal.is_workday(ADJUSTED_SATURDAY)
    assert not cal.is_holiday(ADJUSTED_SATURDAY)


@pytest.mark.parametrize("day", [ORDINARY_SATURDAY, ORDINARY_SUNDAY], ids=str)
def test_an_ordinary_weekend_is_neither_working_day_nor_holiday(day: date):
    cal = WorkCalendar(CalendarConfig())
    assert not cal.is_workday(day)
    assert not cal.is_holiday(day)  # a weekend is not a public holiday


def test_an_ordinary_weekday_is_a_working_day():
    cal = WorkCalendar(CalendarConfig())
    assert cal.is_workday(ORDINARY_MONDAY)
    assert not cal.is_holiday(ORDINARY_MONDAY)


def test_extra_holidays_win_over_the_package():
    cal = WorkCalendar(CalendarConfig(extra_holidays=[ORDINARY_MONDAY, ADJUSTED_SATURDAY]))
    for day in (ORDINARY_MONDAY, ADJUSTED_SATURDAY):
        assert cal.is_holiday(day)
        assert not cal.is_workday(day)


def test_extra_workdays_win_over_the_package():
    cal = WorkCalendar(CalendarConfig(extra_workdays=[date(2026, 10, 1), ORDINARY_SUNDAY]))
    for day in (date(2026, 10, 1), ORDINARY_SUNDAY):
        assert cal.is_workday(day)
        assert not cal.is_holiday(day)
    assert cal.is_holiday(date(2026, 10, 2))  # only the days listed


def test_a_day_listed_as_both_is_a_workday():
    day = date(2026, 10, 1)
    cal = WorkCalendar(CalendarConfig(extra_holidays=[day], extra_workdays=[day]))
    assert cal.is_workday(day)
    assert not cal.is_holiday(day)


def test_beyond_the_package_data_weekends_only_and_no_holidays(caplog: pytest.LogCaptureFixture):
    cal = WorkCalendar(CalendarConfig())
    far_monday, far_saturday = date(2200, 1, 6), date(2200, 1, 4)
    assert not cal.is_holiday(far_monday)
    assert cal.is_workday(far_monday)
    assert not cal.is_workday(far_saturday)
    assert "chinesecalendar has no data for 2200-01-06" in caplog.text
    # extra_holidays still work there
    assert WorkCalendar(CalendarConfig(extra_holidays=[far_monday])).is_holiday(far_monday)


# --- is_open ----------------------------------------------------------------------------
def test_the_default_config_is_open_around_the_clock_except_holidays():
    cal = WorkCalendar(CalendarConfig())
    assert cal.is_open(at("2026-11-28 03:00"))  # Saturday night
    assert cal.is_open(at("2026-11-30 23:59"))
    assert not cal.is_open(at("2026-10-01 12:00"))  # no holiday_hours: closed


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        ("2026-11-30 07:59", False),
        ("2026-11-30 08:00", True),  # start is inclusive
        ("2026-11-30 19:59", True),
        ("2026-11-30 20:00", False),  # end is exclusive
        ("2026-11-28 08:59", False),  # Saturday hours
        ("2026-11-28 09:00", True),
        ("2026-11-28 16:59", True),
        ("2026-11-28 17:00", False),
        ("2026-10-01 10:00", False),  # National Day, no holiday_hours
        # An adjusted working day (调休) keeps Monday's hours (08:00-20:00), not sat's.
        ("2026-10-10 07:59", False),  # adjusted Saturday
        ("2026-10-10 08:00", True),
        ("2026-10-10 08:30", True),  # sat hours would still be closed
        ("2026-10-10 10:00", True),
        ("2026-10-10 18:00", True),  # sat hours would be closed again
        ("2026-10-10 19:59", True),
        ("2026-10-10 20:00", False),
    ],
)
def test_is_open_follows_business_hours(moment: str, is_open: bool):
    assert WorkCalendar(HOURS).is_open(at(moment)) is is_open


def test_an_adjusted_working_day_uses_monday_hours_whatever_its_weekday():
    cal = WorkCalendar(
        CalendarConfig(
            business_hours={"mon": ["07:00-09:00"], "sat": ["12:00-13:00"], "sun": ["14:00-15:00"]},
            extra_workdays=[ORDINARY_SUNDAY],
        )
    )
    for day in (ADJUSTED_SATURDAY, ORDINARY_SUNDAY):  # from the package, from the config
        assert cal.is_open(at(f"{day} 07:30"))
        assert not cal.is_open(at(f"{day} 12:30"))
        assert not cal.is_open(at(f"{day} 14:30"))
    assert cal.is_open(at(f"{ORDINARY_SATURDAY} 12:30"))  # an ordinary weekend keeps its own
    assert not cal.is_open(at(f"{ORDINARY_SATURDAY} 07:30"))


def test_an_adjusted_working_day_is_closed_when_monday_has_no_hours():
    cal = WorkCalendar(CalendarConfig(business_hours={"sat": ["09:00-17:00"]}))
    assert not cal.is_open(at("2026-10-10 10:00"))
    assert cal.is_open(at(f"{ORDINARY_SATURDAY} 10:00"))


def test_several_ranges_in_a_day_and_a_missing_day_is_closed():
    cal = WorkCalendar(CalendarConfig(business_hours={"mon": ["08:00-12:00", "13:30-17:30"]}))
    assert cal.is_open(at("2026-11-30 11:59"))
    assert not cal.is_open(at("2026-11-30 12:30"))
    assert cal.is_open(at("2026-11-30 13:30"))
    assert not cal.is_open(at("2026-11-30 17:30"))
    assert not cal.is_open(at("2026-12-01 10:00"))  # tue not listed: closed


def test_until_24_00_covers_the_last_minute():
    cal = WorkCalendar(CalendarConfig(business_hours={"mon": ["20:00-24:00"]}))
    assert cal.is_open(at("2026-11-30 23:59"))
    assert not cal.is_open(at("2026-11-30 19:59"))


def test_holiday_hours_apply_on_holidays_only():
    cal = WorkCalendar(HOURS.model_copy(update={"holiday_hours": ["10:00-16:00"]}))
    assert not cal.is_open(at("2026-10-01 09:30"))
    assert cal.is_open(at("2026-10-01 10:00"))
    assert not cal.is_open(at("2026-10-01 16:00"))
    assert cal.is_open(at("2026-11-30 09:30"))  # an ordinary day keeps its hours


def test_extra_holiday_uses_holiday_hours_and_extra_workday_business_hours():
    cal = WorkCalendar(
        HOURS.model_copy(
            update={
                "holiday_hours": ["10:00-12:00"],
                "extra_holidays": [ORDINARY_MONDAY],
                "extra_workdays": [date(2026, 10, 1)],
            }
        )
    )
    assert not cal.is_open(at("2026-11-30 09:00"))
    assert cal.is_open(at("2026-11-30 11:00"))
    assert cal.is_open(at("2026-10-01 09:00"))  # Thursday's hours


# --- time zones -------------------------------------------------------------------------
def test_a_utc_moment_is_converted_to_shanghai():
    cal = WorkCalendar(HOURS)
    utc = datetime(2026, 11, 30, 1, 30, tzinfo=UTC)
    local = cal.local(utc)
    assert local == utc
    assert (local.date(), local.hour, local.minute) == (date(2026, 11, 30), 9, 30)
    assert local.utcoffset() == timedelta(hours=8)
    assert cal.is_open(utc)
    assert not cal.is_open(datetime(2026, 11, 29, 23, 30, tzinfo=UTC))  # Mon 07:30 local


def test_the_date_is_the_local_one():
    cal = WorkCalendar(HOURS)
    # 2026-09-30 17:00 UTC is already 2026-10-01 01:00 in Shanghai: a holiday.
    assert cal.local(datetime(2026, 9, 30, 17, 0, tzinfo=UTC)).date() == date(2026, 10, 1)
    staffed_all_day = WorkCalendar(CalendarConfig())
    assert staffed_all_day.is_open(datetime(2026, 9, 30, 15, 0, tzinfo=UTC))  # 23:00 on 30 Sep
    assert not staffed_all_day.is_open(datetime(2026, 9, 30, 17, 0, tzinfo=UTC))


def test_other_zones_and_naive_times():
    cal = WorkCalendar(HOURS.model_copy(update={"timezone": "Asia/Urumqi"}))  # UTC+6
    assert cal.local(datetime(2026, 11, 30, 2, 0, tzinfo=UTC)).hour == 8
    assert cal.local(datetime(2026, 11, 30, 10, 0, tzinfo=timezone(timedelta(hours=8)))).hour == 8
    naive = datetime(2026, 11, 30, 10, 0)
    assert cal.local(naive) == naive.replace(tzinfo=ZoneInfo("Asia/Urumqi"))  # taken as local


# --- configuration errors ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "holiday_hours",
            ["25:00-26:00"],
            "'25:00-26:00' is not a range like 08:00-20:00 (24:00 ends a day)",
        ),
        ("holiday_hours", ["10:00-09:00"], "'10:00-09:00' ends before it starts"),
        ("holiday_hours", ["10:00-10:00"], "'10:00-10:00' ends before it starts"),
        ("holiday_hours", ["8:00-20:00"], "'8:00-20:00' is not a range like 08:00-20:00"),
        (
            "business_hours",
            {"mon": ["09:00-24:30"]},
            "'09:00-24:30' is not a range like 08:00-20:00 (24:00 ends a day)",
        ),
        ("business_hours", {"mon": ["09:00-24:01"]}, "'09:00-24:01' is not a range like"),
        # 24:00 ends a day; it never starts one.
        ("holiday_hours", ["24:00-24:00"], "'24:00-24:00' is not a range like"),
        ("holiday_hours", ["09:00-25:00"], "'09:00-25:00' is not a range like"),
        ("business_hours", {"monday": ["09:00-17:00"]}, "unknown weekday 'monday'"),
        ("timezone", "Asia/Beijing", "unknown time zone 'Asia/Beijing'"),
    ],
)
def test_invalid_config_values(field: str, value: object, message: str):
    with pytest.raises(ValidationError) as info:
        CalendarConfig.model_validate({field: value})
    assert message in str(info.value)


@pytest.mark.parametrize("ranges", [["00:00-24:00"], ["09:00-24:00"], ["23:59-24:00"]])
def test_24_00_is_accepted_as_an_end(ranges: list[str]):
    assert CalendarConfig(holiday_hours=ranges).holiday_hours == ranges
    assert CalendarConfig(business_hours={"sun": ranges}).business_hours == {"sun": ranges}


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CalendarConfig.model_validate({"holidays": ["2026-10-01"]})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "timezone: Asia/Shanghai\nbusiness_hours:\n  mon: ['08:00-20:00']\n"
            "  sat: ['25:00-26:00']\n",
            # The whole mapping is checked at once: the position is its first day.
            ":3:3: business_hours: Value error, '25:00-26:00' is not a range like 08:00-20:00 "
            "(24:00 ends a day)",
        ),
        (
            "holiday_hours: ['10:00-09:00']\n",
            ":1:16: holiday_hours: Value error, '10:00-09:00' ends before it starts",
        ),
        (
            "business_hours:\n  mon: ['08:00-20:00']\n  funday: ['10:00-12:00']\n",
            ":2:3: business_hours: Value error, unknown weekday 'funday' "
            "(use mon, tue, wed, thu, fri, sat, sun)",
        ),
        (
            "# the city's calendar\ntimezone: Mars/Olympus_Mons\n",
            ":2:11: timezone: Value error, unknown time zone 'Mars/Olympus_Mons'",
        ),
        (
            "extra_holidays: [2026-12-31, someday]\n",
            ":1:30: extra_holidays.1: Input should be a valid date",
        ),
        (
            "business_hours:\n  mon: ['08:00-20:00']\n  mon: ['09:00-17:00']\n",
            ":3:3: duplicate key 'mon' (first at line 2)",
        ),
        ("timezone: [Asia/Shanghai\n", ":2:1: YAML syntax error:"),
    ],
    ids=[
        "bad-range",
        "backwards-range",
        "weekday",
        "timezone",
        "date",
        "duplicate",
        "syntax",
    ],
)
def test_load_calendar_errors_name_file_line_and_column(tmp_path: Path, text: str, expected: str):
    path = write(tmp_path / "calendar.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_calendar(path)
    assert str(info.value).startswith(f"{path}{expected}")


def test_load_calendar_reads_the_city_file(tmp_path: Path):
    path = write(
        tmp_path / "calendar.yaml",
        "timezone: Asia/Shanghai\n"
        "business_hours:\n"
        "  mon: ['08:00-12:00', '13:00-18:00']\n"
        "holiday_hours: ['09:00-12:00']\n"
        "extra_holidays: [2026-12-31]\n"
        "extra_workdays: ['2026-10-03']\n",
    )
    cal = load_calendar(path)
    assert cal.config.business_hours == {"mon": ["08:00-12:00", "13:00-18:00"]}
    assert cal.config.extra_holidays == [date(2026, 12, 31)]
    assert cal.config.extra_workdays == [date(2026, 10, 3)]
    assert cal.is_holiday(date(2026, 12, 31))
    assert cal.is_workday(date(2026, 10, 3))
    assert cal.is_open(at("2026-12-31 10:00"))  # holiday hours
    assert not cal.is_open(at("2026-12-31 13:00"))


def test_load_calendar_missing_or_empty_file_gives_defaults(tmp_path: Path):
    assert load_calendar(tmp_path / "absent.yaml").config == CalendarConfig()
    assert load_calendar(write(tmp_path / "empty.yaml", "")).config == CalendarConfig()
    assert load_calendar(write(tmp_path / "comments.yaml", "# nothing\n")).config == (
        CalendarConfig()
    )


def test_the_shipped_calendar_loads():
    cal = load_calendar(ROOT / "config" / "calendar.yaml")
    assert cal.config.timezone == "Asia/Shanghai"
    assert set(cal.config.business_hours) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


def test_an_impossible_date_is_a_config_error(tmp_path: Path):
    path = write(tmp_path / "calendar.yaml", "extra_holidays: [2026-02-30]\n")
    with pytest.raises(ConfigError) as info:
        load_calendar(path)
    assert str(info.value) == (
        f"{path}:1:18: bad value: invalid value '2026-02-30': day is out of range for month"
    )
