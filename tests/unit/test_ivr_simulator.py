"""The simulator over every branch of the default 12345 flow (and a transfer flow).

The simulator runs the same Interpreter as live calls, so these are the paths
a caller takes. The calendar is built here (not read from config/calendar.yaml)
so the tests do not move when a city edits its hours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from callcenter.acd.queues import load_queues
from callcenter.calendar import CalendarConfig, WorkCalendar
from callcenter.cli import main
from callcenter.ivr.interpreter import Outcome
from callcenter.ivr.lookup import FixtureLookup
from callcenter.ivr.port import TransferResult
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.registry import IvrRuntime
from callcenter.ivr.simulator import simulate
from callcenter.ivr.validate import load_flow_set

ROOT = Path(__file__).resolve().parents[2]
PROMPTS_DIR = ROOT / "ivr_flows" / "prompts"
SHANGHAI = ZoneInfo("Asia/Shanghai")
CALLER = "13800000000"
VOICEMAIL_1 = "voicemail/2026/11/30/00000000-0000-0000-0000-000000000000-1"

# Staffed 08:00-20:00 on weekdays and adjusted working days (调休), 09:00-17:00 at
# weekends, closed on holidays.
HOURS = CalendarConfig(
    timezone="Asia/Shanghai",
    business_hours={
        **{day: ["08:00-20:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        "sat": ["09:00-17:00"],
        "sun": ["09:00-17:00"],
    },
)
MONDAY_10 = "2026-11-30 10:00"  # an ordinary working Monday, open


def make_runtime(flows_dir: Path, calendar: CalendarConfig = HOURS) -> IvrRuntime:
    queues = load_queues(ROOT / "config" / "queues.yaml")
    flows = load_flow_set([flows_dir], prompts_dir=PROMPTS_DIR, queues=queues)
    return IvrRuntime(
        flows,
        WorkCalendar(calendar),
        FixtureLookup.load(ROOT / "config" / "lookup_fixture.yaml"),
        queues,
    )


@pytest.fixture(scope="module")
def runtime() -> IvrRuntime:
    return make_runtime(ROOT / "ivr_flows")


@dataclass(frozen=True)
class Call:
    outcome: Outcome
    path: list[tuple[str, str]]
    heard: list[str]
    langs: list[str]  # the language each prompt in `heard` was played in
    lines: list[str]  # everything printed

    def nodes(self) -> list[str]:
        """The path as "node" for the 12345 flow and "flow/node" for the others."""
        return [node if flow == "12345" else f"{flow}/{node}" for flow, node in self.path]

    def heard_in(self) -> list[tuple[str, str]]:
        return list(zip(self.langs, self.heard, strict=True))

    def printed(self, fragment: str) -> bool:
        return any(fragment in line for line in self.lines)


async def call(
    runtime: IvrRuntime,
    digits: str,
    at: str | datetime = MONDAY_10,
    flow: str = "12345",
    transfer_result: TransferResult = TransferResult.CONNECTED,
) -> Call:
    lines: list[str] = []
    moment = datetime.fromisoformat(at).replace(tzinfo=SHANGHAI) if isinstance(at, str) else at
    result = await simulate(
        runtime,
        flow,
        digits,
        at=moment,
        caller=CALLER,
        prompts=PromptLibrary(PROMPTS_DIR),
        out=lines.append,
        transfer_result=transfer_result,
    )
    langs = [m[1] for line in lines if (m := re.match(r"\s+♪ \[(\w+)\] ", line))]
    return Call(result.outcome, result.path, result.heard, langs, lines)


OPEN = ["welcome", "hours", "main_menu"]
# 1 → the queue (a stub: "all agents are busy"), then leave a message, then goodbye.
HUMAN = [
    "human",
    "queue_general",
    "busy_message",
    "voicemail/record",
    "voicemail/done",
    "goodbye",
]
HUMAN_HEARD = ["all_busy", "leave_message", "message_saved", "goodbye"]
LOOKUP = ["self_service", "ask_query_code", "lookup_status", "after_lookup", "goodbye"]
CLOSED = [
    "welcome",
    "hours",
    "closed",
    "after_hours_message",
    "voicemail/record",
    "voicemail/done",
    "goodbye",
]
CLOSED_HEARD = ["welcome", "closed", "leave_message", "message_saved", "goodbye"]
# The hours branch has one case, business_hours: false (is_open already applies
# holiday_hours on public holidays): holidays and after hours both take case 0.
CLOSED_CASE = "· branch: case=0, goto=closed"
OPEN_DEFAULT = "· branch: case=default, goto=main_menu"


def spoken_digits(code: str) -> list[str]:
    return [f"digits/{d}" for d in code]


# --- 1: human service -------------------------------------------------------------------
async def test_1_queues_for_a_human_then_takes_a_message(runtime: IvrRuntime):
    c = await call(runtime, "1")
    assert c.outcome is Outcome.COMPLETED
    assert c.nodes() == [*OPEN, *HUMAN]
    assert c.heard == ["welcome", "main_menu", *HUMAN_HEARD]
    assert set(c.langs) == {"zh"}
    assert c.printed("· menu_choice: digit=1, attempt=1")
    assert c.printed("· queue_requested: queue=general, priority=0, skills=[]")
    assert c.printed("⇢ queue general (priority 0, skills -)")
    assert c.printed(f"● recording {VOICEMAIL_1} (up to 120 s)")
    assert c.printed(f"✉ voicemail {VOICEMAIL_1} stored")
    assert c.lines[0] == (
        f"flow 12345 (version {runtime.version}), caller {CALLER}, at 2026-11-30 10:00 CST"
    )
    assert c.lines[-1] == "= completed"


# --- 2,1: status of a request -----------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "last_four", "status", "updated"),
    [
        ("20261128", "", "processing", ["numbers/11", "date_month", "numbers/27", "date_day"]),
        # Given at intake from another phone: its last four digits first.
        ("73519024", "5678", "closed", ["numbers/11", "date_month", "numbers/20", "date_day"]),
        ("58260413", "", "received", []),  # no update date in the fixture: none spoken
    ],
)
async def test_2_1_known_query_code_speaks_status_and_digits(
    runtime: IvrRuntime, code: str, last_four: str, status: str, updated: list[str]
):
    c = await call(runtime, f"2,1,{code}#" + (f",{last_four}" if last_four else ""))
    assert c.outcome is Outcome.COMPLETED
    assert c.nodes() == [*OPEN, *LOOKUP]
    spoken = [
        *(["enter_phone_last4"] if last_four else []),
        "lookup_intro",
        *spoken_digits(code),
        f"status_{status}",
        *(["updated_on", *updated] if updated else []),
    ]
    assert c.heard == [
        "welcome",
        "main_menu",
        "self_service_menu",
        "enter_query_code",
        *spoken,
        "after_lookup_menu",  # one try, no key: goodbye
        "goodbye",
    ]
    assert c.printed(f"· collected: var=query_code, digits={code}")
    how = "last_four" if last_four else "caller"
    assert c.printed(f"· lookup: query_code={code}, found=True, verified_by={how}, status={status}")


async def test_2_1_unknown_query_code_is_not_found(runtime: IvrRuntime):
    c = await call(runtime, "2,1,99999999#")
    assert c.nodes() == [*OPEN, *LOOKUP]
    assert c.heard == [
        "welcome",
        "main_menu",
        "self_service_menu",
        "enter_query_code",
        "lookup_not_found",
        "after_lookup_menu",
        "goodbye",
    ]
    assert c.printed("· lookup: query_code=99999999, found=False, verified_by=None, status=None")


async def test_2_1_too_short_code_is_invalid_then_the_caller_gives_up(runtime: IvrRuntime):
    c = await call(runtime, "2,1,12#")
    assert c.outcome is Outcome.COMPLETED
    assert c.nodes() == [*OPEN, "self_service", "ask_query_code", "goodbye"]
    assert c.heard == [
        "welcome",
        "main_menu",
        "self_service_menu",
        "enter_query_code",
        "invalid",
        "enter_query_code",
        "no_input",
        "enter_query_code",
        "no_input",
        "goodbye",
    ]
    assert c.printed("· collect_invalid: digits=12, attempt=1")
    assert c.printed("· collect_timeout: attempt=3")
    assert c.printed("· collect_failed")
    assert not c.printed("· lookup")


async def test_2_1_too_short_code_then_a_good_one_on_the_retry(runtime: IvrRuntime):
    c = await call(runtime, "2,1,12#,20261128#")
    assert c.nodes() == [*OPEN, *LOOKUP]
    assert c.heard[3:7] == ["enter_query_code", "invalid", "enter_query_code", "lookup_intro"]
    assert "status_processing" in c.heard


@pytest.mark.parametrize("codes", ["12#,34#,56#", "12*4#,1#,abc#"])
async def test_2_1_three_bad_codes_end_the_call(runtime: IvrRuntime, codes: str):
    # "12*4" is long enough but fails the pattern [0-9]+; "abc" is kept by the
    # simulator as typed and fails it too.
    c = await call(runtime, f"2,1,{codes}")
    assert c.nodes() == [*OPEN, "self_service", "ask_query_code", "goodbye"]
    assert c.heard.count("invalid") == 3
    assert c.heard[-1] == "goodbye"


async def test_lookup_again_then_back_to_the_main_menu(runtime: IvrRuntime):
    c = await call(runtime, "2,1,99999999#,1,20261128#,*,1")
    assert c.nodes() == [
        *OPEN,
        "self_service",
        "ask_query_code",
        "lookup_status",
        "after_lookup",
        "ask_query_code",
        "lookup_status",
        "after_lookup",
        "main_menu",
        *HUMAN,
    ]
    assert c.heard.count("lookup_not_found") == 1
    assert c.heard.count("status_processing") == 1


# --- 2,2 / 2,*: message and back --------------------------------------------------------
async def test_2_2_leaves_a_message(runtime: IvrRuntime):
    c = await call(runtime, "2,2")
    assert c.outcome is Outcome.COMPLETED
    assert c.nodes() == [
        *OPEN,
        "self_service",
        "self_service_message",
        "voicemail/record",
        "voicemail/done",
        "goodbye",
    ]
    assert c.heard == [
        "welcome",
        "main_menu",
        "self_service_menu",
        "leave_message",
        "message_saved",
        "goodbye",
    ]
    assert c.printed(f"✉ voicemail {VOICEMAIL_1} stored")


async def test_2_star_goes_back_to_the_main_menu(runtime: IvrRuntime):
    c = await call(runtime, "2,*,1")
    assert c.nodes() == [*OPEN, "self_service", "main_menu", *HUMAN]
    assert c.heard == ["welcome", "main_menu", "self_service_menu", "main_menu", *HUMAN_HEARD]


async def test_self_service_without_a_key_says_goodbye(runtime: IvrRuntime):
    c = await call(runtime, "2")
    assert c.nodes() == [*OPEN, "self_service", "goodbye"]
    assert c.heard == [
        "welcome",
        "main_menu",
        *["self_service_menu", "no_input"] * 3,
        "goodbye",
    ]


# --- 9: English and back ----------------------------------------------------------------
async def test_9_switches_to_english_for_the_rest_of_the_call(runtime: IvrRuntime):
    c = await call(runtime, "9,1")
    assert c.nodes() == [
        *OPEN,
        "switch_language",
        "to_english",
        "main_menu",
        "human",
        "queue_english",
        "busy_message",
        "voicemail/record",
        "voicemail/done",
        "goodbye",
    ]
    assert c.heard_in() == [
        ("zh", "welcome"),
        ("zh", "main_menu"),
        ("en", "main_menu"),
        *(("en", name) for name in HUMAN_HEARD),
    ]
    assert c.printed("♪ [en] main_menu: For an operator, press 1.")
    assert c.printed("· set: vars={}, language=en")
    assert c.printed("⇢ queue english (priority 0, skills -)")


async def test_9_twice_switches_back_to_chinese(runtime: IvrRuntime):
    c = await call(runtime, "9,9,1")
    assert c.nodes() == [
        *OPEN,
        "switch_language",
        "to_english",
        "main_menu",
        "switch_language",
        "to_chinese",
        "main_menu",
        *HUMAN,
    ]
    assert c.heard_in() == [
        ("zh", "welcome"),
        ("zh", "main_menu"),
        ("en", "main_menu"),
        ("zh", "main_menu"),
        *(("zh", name) for name in HUMAN_HEARD),
    ]


async def test_english_lookup_uses_asterisk_say_for_digits_and_date(runtime: IvrRuntime):
    # en has no digits/ or date prompts of its own: Asterisk's say speaks them.
    c = await call(runtime, "9,2,1,20261128#")
    assert c.heard_in()[-9:] == [
        ("en", "enter_query_code"),
        ("en", "lookup_intro"),
        ("en", "digits:20261128"),
        ("en", "status_processing"),
        ("en", "updated_on"),
        ("en", "sound:digits/mon-10"),
        ("en", "number:27"),
        ("en", "after_lookup_menu"),
        ("en", "goodbye"),
    ]


# --- 0, timeouts, invalid keys ----------------------------------------------------------
async def test_0_repeats_the_main_menu(runtime: IvrRuntime):
    c = await call(runtime, "0,1")
    assert c.nodes() == [*OPEN, "main_menu", *HUMAN]
    assert c.heard == ["welcome", "main_menu", "main_menu", *HUMAN_HEARD]
    assert c.printed("· menu_choice: digit=0, attempt=1")


async def test_no_input_at_all_times_out_three_times_then_a_human(runtime: IvrRuntime):
    c = await call(runtime, "")
    assert c.outcome is Outcome.COMPLETED
    assert c.nodes() == [*OPEN, *HUMAN]
    assert c.heard == ["welcome", *["main_menu", "no_input"] * 3, *HUMAN_HEARD]
    assert [line.strip() for line in c.lines if "menu_timeout" in line] == [
        f"· menu_timeout: attempt={n}" for n in (1, 2, 3)
    ]
    assert c.printed("· menu_failed")
    assert c.printed("⌨ (no key within 5 s)")


@pytest.mark.parametrize("digits", ["7,7,7", "777"], ids=["separate", "typed-ahead"])
async def test_invalid_key_three_times_then_a_human(runtime: IvrRuntime, digits: str):
    c = await call(runtime, digits)
    assert c.nodes() == [*OPEN, *HUMAN]
    assert c.heard == ["welcome", *["main_menu", "invalid"] * 3, *HUMAN_HEARD]
    assert [line.strip() for line in c.lines if "menu_invalid" in line] == [
        f"· menu_invalid: digit=7, attempt={n}" for n in (1, 2, 3)
    ]


async def test_an_invalid_key_then_a_valid_one(runtime: IvrRuntime):
    c = await call(runtime, "7,2,2")
    assert c.nodes()[:4] == [*OPEN, "self_service"]
    assert c.heard[:5] == ["welcome", "main_menu", "invalid", "main_menu", "self_service_menu"]
    assert c.printed("· menu_choice: digit=2, attempt=2")


# --- the calendar -----------------------------------------------------------------------
async def test_national_day_is_closed_and_takes_a_message(runtime: IvrRuntime):
    c = await call(runtime, "1", at="2026-10-01 10:00")
    assert c.outcome is Outcome.COMPLETED
    assert c.nodes() == CLOSED
    assert c.heard == CLOSED_HEARD
    assert c.printed(CLOSED_CASE)
    assert not c.printed("case=1")  # there is no separate holiday case any more


async def test_after_hours_is_closed_and_takes_a_message(runtime: IvrRuntime):
    c = await call(runtime, "1", at="2026-11-30 23:00")
    assert c.nodes() == CLOSED
    assert c.heard == CLOSED_HEARD
    assert c.printed(CLOSED_CASE)


async def test_open_hours_take_the_default_to_the_main_menu(runtime: IvrRuntime):
    c = await call(runtime, "1")
    assert c.printed(OPEN_DEFAULT)
    assert not c.printed("case=0")


async def test_holiday_hours_open_a_public_holiday_through_the_same_case():
    runtime = make_runtime(
        ROOT / "ivr_flows", HOURS.model_copy(update={"holiday_hours": ["10:00-12:00"]})
    )
    opened = await call(runtime, "1", at="2026-10-01 10:30")
    assert opened.nodes() == [*OPEN, *HUMAN]
    assert opened.printed(OPEN_DEFAULT)
    closed = await call(runtime, "1", at="2026-10-01 13:00")
    assert closed.nodes() == CLOSED
    assert closed.printed(CLOSED_CASE)


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        ("2026-11-30 08:00", True),  # Monday: opening minute
        ("2026-11-30 19:59", True),
        ("2026-11-30 20:00", False),  # the range's end is exclusive
        ("2026-11-28 10:00", True),  # an ordinary Saturday: sat hours 09:00-17:00
        ("2026-11-28 08:30", False),
    ],
)
async def test_business_hours_edges(runtime: IvrRuntime, at: str, is_open: bool):
    c = await call(runtime, "1", at=at)
    assert c.nodes() == ([*OPEN, *HUMAN] if is_open else CLOSED)


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        # An adjusted working day (调休) keeps Monday's hours (08:00-20:00), not
        # the 09:00-17:00 of its weekday name (sat).
        ("2026-10-10 07:59", False),
        ("2026-10-10 08:30", True),
        ("2026-10-10 10:00", True),
        ("2026-10-10 17:30", True),
        ("2026-10-10 20:00", False),
    ],
)
async def test_saturday_adjusted_workday_is_served_by_monday_hours(
    runtime: IvrRuntime, at: str, is_open: bool
):
    c = await call(runtime, "1", at=at)
    assert c.nodes() == ([*OPEN, *HUMAN] if is_open else CLOSED)
    assert c.printed(OPEN_DEFAULT if is_open else CLOSED_CASE)


@pytest.mark.parametrize(
    ("utc", "is_open"),
    [
        (datetime(2026, 11, 30, 2, 0, tzinfo=UTC), True),  # 10:00 in Shanghai
        (datetime(2026, 11, 30, 13, 0, tzinfo=UTC), False),  # 21:00 in Shanghai
        (datetime(2026, 11, 29, 23, 30, tzinfo=UTC), False),  # Monday 07:30 in Shanghai
    ],
)
async def test_a_utc_moment_is_judged_in_local_time(
    runtime: IvrRuntime, utc: datetime, is_open: bool
):
    c = await call(runtime, "1", at=utc)
    assert c.nodes() == ([*OPEN, *HUMAN] if is_open else CLOSED)
    local = utc.astimezone(SHANGHAI)
    assert c.lines[0].endswith(f"at {local:%Y-%m-%d %H:%M} CST")


async def test_extra_holiday_from_the_calendar_closes_an_ordinary_day():
    runtime = make_runtime(
        ROOT / "ivr_flows",
        HOURS.model_copy(update={"extra_holidays": [datetime(2026, 11, 30).date()]}),
    )
    c = await call(runtime, "1")
    assert c.nodes() == CLOSED


# --- the other default flows ------------------------------------------------------------
@pytest.mark.parametrize(
    ("digits", "heard", "score"),
    [
        ("5", ["survey", "survey_thanks", "goodbye"], 5),
        ("8,3", ["survey", "invalid", "survey", "survey_thanks", "goodbye"], 3),
        ("", ["survey", "survey", "goodbye"], None),  # no key twice: skipped
    ],
)
async def test_survey_flow(runtime: IvrRuntime, digits: str, heard: list[str], score: int | None):
    c = await call(runtime, digits, flow="survey")
    assert c.outcome is Outcome.COMPLETED
    assert c.path == [("survey", "rate"), ("survey", "bye")]
    assert c.heard == heard
    assert c.printed(f"★ survey score {score}") == (score is not None)
    assert c.printed("· survey_skipped") == (score is None)


async def test_voicemail_flow_on_its_own_returns_and_completes(runtime: IvrRuntime):
    c = await call(runtime, "", flow="voicemail")
    assert c.outcome is Outcome.COMPLETED
    assert c.path == [("voicemail", "record"), ("voicemail", "done")]
    assert c.heard == ["leave_message", "message_saved"]


# --- transfer ---------------------------------------------------------------------------
TRANSFER_FLOW = """\
numbers: ["12399"]
start: connect
nodes:
  connect:
    type: transfer
    number: "01012345678"
    timeout: 20
    next: sorry
  sorry:
    type: play
    prompts: [all_busy]
    next: bye
  bye:
    type: hangup
    prompts: [goodbye]
"""


@pytest.fixture
def transfer_runtime(tmp_path: Path) -> IvrRuntime:
    (tmp_path / "department.yaml").write_text(TRANSFER_FLOW, encoding="utf-8")
    return make_runtime(tmp_path)


async def test_transfer_connected_ends_the_call_as_transferred(transfer_runtime: IvrRuntime):
    c = await call(transfer_runtime, "", flow="department")
    assert c.outcome is Outcome.TRANSFERRED
    assert c.path == [("department", "connect")]
    assert c.heard == ["transferring"]
    assert c.printed("☎ transfer to 01012345678: connected")
    assert c.printed("· transfer: number=01012345678, result=connected")
    assert c.lines[-1] == "= transferred"


@pytest.mark.parametrize("result", [TransferResult.NO_ANSWER, TransferResult.FAILED])
async def test_transfer_not_connected_says_so_and_goes_on(
    transfer_runtime: IvrRuntime, result: TransferResult
):
    c = await call(transfer_runtime, "", flow="department", transfer_result=result)
    assert c.outcome is Outcome.COMPLETED
    assert c.path == [("department", n) for n in ("connect", "sorry", "bye")]
    assert c.heard == ["transferring", "transfer_failed", "all_busy", "goodbye"]
    assert c.printed(f"· transfer: number=01012345678, result={result.value}")


# --- subflows without next -------------------------------------------------------------
def write_flows(folder: Path, **flows: str) -> Path:
    for name, text in flows.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    return folder


OUTER = (
    'numbers: ["12398"]\n'
    "start: call_middle\n"
    "nodes:\n"
    "  call_middle:\n"
    "    type: subflow\n"
    "    flow: middle\n"
    "    next: bye\n"
    "  bye:\n"
    "    type: hangup\n"
    "    prompts: [goodbye]\n"
)
INNER = "start: hello\nnodes:\n  hello:\n    type: play\n    prompts: [welcome]\n"


def calls_without_next(flow: str) -> str:
    return f"start: call\nnodes:\n  call:\n    type: subflow\n    flow: {flow}\n"


async def test_a_nested_subflow_without_next_returns_to_the_outer_caller(tmp_path: Path):
    flows = write_flows(tmp_path, outer=OUTER, middle=calls_without_next("inner"), inner=INNER)
    c = await call(make_runtime(flows), "", flow="outer")
    assert c.outcome is Outcome.COMPLETED
    assert c.path == [
        ("outer", "call_middle"),
        ("middle", "call"),
        ("inner", "hello"),
        ("outer", "bye"),
    ]
    assert c.heard == ["welcome", "goodbye"]


async def test_returns_keep_popping_until_a_caller_has_a_next(tmp_path: Path):
    flows = write_flows(
        tmp_path,
        outer=OUTER,
        middle=calls_without_next("deeper"),
        deeper=calls_without_next("inner"),
        inner=INNER,
    )
    c = await call(make_runtime(flows), "", flow="outer")
    assert c.outcome is Outcome.COMPLETED
    assert c.path == [
        ("outer", "call_middle"),
        ("middle", "call"),
        ("deeper", "call"),
        ("inner", "hello"),
        ("outer", "bye"),
    ]
    assert c.heard == ["welcome", "goodbye"]


async def test_a_subflow_without_next_in_the_entry_flow_completes_the_call(tmp_path: Path):
    flows = write_flows(
        tmp_path,
        outer='numbers: ["12398"]\n' + calls_without_next("middle"),
        middle=calls_without_next("inner"),
        inner=INNER,
    )
    c = await call(make_runtime(flows), "", flow="outer")
    assert c.outcome is Outcome.COMPLETED
    assert c.path == [("outer", "call"), ("middle", "call"), ("inner", "hello")]
    assert c.heard == ["welcome"]
    assert c.lines[-1] == "= completed"


# --- the command line -------------------------------------------------------------------
def test_cli_simulate_prints_path_and_prompts():
    result = CliRunner().invoke(
        main,
        [
            "ivr",
            "simulate",
            "-c",
            str(ROOT / "config" / "hotline.yaml"),
            "12345",
            "--digits",
            "2,1,20261128#",
            "--at",
            MONDAY_10,
        ],
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("caller 13800000000, at 2026-11-30 10:00 CST")
    assert [line for line in lines if line.startswith("→ ")] == [
        "→ 12345/welcome (play)",
        "→ 12345/hours (branch)",
        "→ 12345/main_menu (menu)",
        "→ 12345/self_service (menu)",
        "→ 12345/ask_query_code (collect)",
        "→ 12345/lookup_status (lookup)",
        "→ 12345/after_lookup (menu)",
        "→ 12345/goodbye (hangup)",
    ]
    assert "     ♪ [zh] status_processing: 正在办理中。" in lines
    assert lines[-1] == "= completed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchflow"], "Error: no flow 'nosuchflow'; flows: 12345, survey, voicemail"),
        (["12345", "--at", "tomorrow"], "Error: --at 'tomorrow': expected YYYY-MM-DD HH:MM"),
    ],
)
def test_cli_simulate_refuses_bad_arguments(args: list[str], message: str):
    result = CliRunner().invoke(
        main, ["ivr", "simulate", "-c", str(ROOT / "config" / "hotline.yaml"), *args]
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == message
