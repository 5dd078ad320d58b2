"""The IVR's status lookup speaks only to the caller who gave the request: calling
from its phone, or typing that phone's last four digits; wrong tries are refused
politely, counted per caller and per code, and lock as the web's lookup does.
Run through the simulator, which drives the same interpreter as live calls."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callcenter.acd.queues import load_queues
from callcenter.calendar import CalendarConfig, WorkCalendar
from callcenter.config import LookupLimits
from callcenter.ivr.interpreter import Outcome
from callcenter.ivr.lookup import FixtureLookup
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.registry import IvrRuntime
from callcenter.ivr.simulator import SimulationResult, simulate
from callcenter.ivr.validate import load_flow_set
from callcenter.ivr.verify import last_digits, same_number
from callcenter.ratelimit import Guard

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "ivr_flows" / "prompts"
AT = datetime(2026, 11, 30, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # open hours
OWNER = "13912345678"
STRANGER = "13600000000"
FIXTURE = f"""
tickets:
  "111111118": {{status: replied, updated: 2026-11-27, phone: "{OWNER}"}}
  "222222226": {{status: processing, phone: "{OWNER}"}}
  "333333334": {{status: closed}}  # written in, no phone given
"""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> IvrRuntime:
    fixture = tmp_path_factory.mktemp("lookup") / "lookup_fixture.yaml"
    fixture.write_text(FIXTURE)
    queues = load_queues(ROOT / "config" / "queues.yaml")
    flows = load_flow_set([ROOT / "ivr_flows"], prompts_dir=PROMPTS, queues=queues)
    always_open = CalendarConfig(
        business_hours={d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    )
    return IvrRuntime(flows, WorkCalendar(always_open), FixtureLookup.load(fixture), queues)


class Call:
    def __init__(self, result: SimulationResult, lines: list[str]) -> None:
        self.outcome = result.outcome
        self.heard = result.heard
        self.nodes = [node for _, node in result.path]
        self.steps = [line.strip()[2:] for line in lines if line.strip().startswith("· ")]


async def call(
    runtime: IvrRuntime, keys: str, caller: str = STRANGER, guard: Guard | None = None
) -> Call:
    lines: list[str] = []
    result = await simulate(
        runtime,
        "12345",
        f"2,1,{keys}",
        at=AT,
        caller=caller,
        prompts=PromptLibrary(PROMPTS),
        out=lines.append,
        guard=guard,
    )
    return Call(result, lines)


@pytest.mark.parametrize("caller", [OWNER, "+86 139 1234 5678", "008613912345678", "013912345678"])
async def test_the_callers_own_number_hears_the_status_at_once(runtime, caller):
    c = await call(runtime, "111111118#", caller=caller)
    assert "enter_phone_last4" not in c.heard
    assert "status_replied" in c.heard
    assert "lookup: query_code=111111118, found=True, verified_by=caller, status=replied" in c.steps


async def test_another_number_types_the_last_four_digits_then_hears_it(runtime):
    c = await call(runtime, "111111118#,5678")
    assert c.heard[3:6] == ["enter_query_code", "enter_phone_last4", "lookup_intro"]
    assert "status_replied" in c.heard
    assert "lookup: query_code=111111118, found=True, verified_by=last_four, status=replied" in (
        c.steps
    )
    assert c.nodes[-2:] == ["after_lookup", "goodbye"]  # the flow goes on as before


async def test_a_wrong_try_is_refused_politely_and_the_next_may_be_right(runtime):
    c = await call(runtime, "111111118#,1234,5678")
    assert c.heard[4:8] == [
        "enter_phone_last4",
        "lookup_verify_failed",
        "enter_phone_last4",
        "lookup_intro",
    ]
    assert "lookup_verify: attempt=1, result=wrong" in c.steps
    assert not any("1234" in step for step in c.steps)  # typed digits are never traced


async def test_three_wrong_tries_end_the_call_without_the_status(runtime):
    c = await call(runtime, "111111118#,1111,,3333")
    assert c.heard.count("enter_phone_last4") == 3
    assert c.heard.count("lookup_verify_failed") == 3
    assert not any(h.startswith("status_") or h == "lookup_intro" for h in c.heard)
    assert [s for s in c.steps if s.startswith("lookup_verify")] == [
        "lookup_verify: attempt=1, result=wrong",
        "lookup_verify: attempt=2, result=timeout",
        "lookup_verify: attempt=3, result=wrong",
    ]
    assert "lookup: query_code=111111118, found=True, verified_by=None, status=None" in c.steps
    assert c.nodes[-2:] == ["lookup_status", "goodbye"]  # on_fail: goodbye
    assert c.heard[-1] == "goodbye" and c.outcome is Outcome.COMPLETED


async def test_a_request_without_a_phone_cannot_be_proven_and_is_not_found(runtime):
    c = await call(runtime, "333333334#", caller=OWNER)
    assert "lookup_not_found" in c.heard and "enter_phone_last4" not in c.heard
    assert "lookup: query_code=333333334, found=False, verified_by=None, status=None" in c.steps


def limits(**changes: float) -> tuple[Guard, Clock]:
    clock = Clock()
    settings = {
        "tries_per_minute": 1000,
        "client_failures": 1000,
        "code_failures": 3,
        "lock_seconds": 60,
        **changes,
    }
    return LookupLimits.model_validate(settings).guard(clock=clock), clock


async def test_wrong_tries_lock_the_code_across_calls_even_for_its_owner(runtime):
    guard, clock = limits(code_failures=2)
    first = await call(runtime, "111111118#,1111,2222,3333", guard=guard)
    # The second try reaches the limit: the third is refused before it is asked.
    assert first.heard.count("enter_phone_last4") == 2
    assert "lookup_locked" in first.heard
    assert "lookup_locked: query_code=111111118, wait=60" in first.steps
    assert first.nodes[-2:] == ["lookup_status", "goodbye"]
    owner = await call(runtime, "111111118#", caller=OWNER, guard=guard)
    assert "lookup_locked" in owner.heard and "status_replied" not in owner.heard
    other = await call(runtime, "222222226#", caller=OWNER, guard=guard)  # other codes are not
    assert "status_processing" in other.heard
    clock.now += 60
    owner = await call(runtime, "111111118#", caller=OWNER, guard=guard)
    assert "status_replied" in owner.heard


async def test_a_caller_trying_many_codes_is_locked(runtime):
    guard, _ = limits(client_failures=3, code_failures=1000)
    for code in ("444444442", "555555550", "666666668"):
        c = await call(runtime, f"{code}#", guard=guard)
        assert "lookup_not_found" in c.heard
    c = await call(runtime, "111111118#,5678", guard=guard)
    assert "lookup_locked" in c.heard and "status_replied" not in c.heard
    elsewhere = await call(runtime, "111111118#,5678", caller="13700000000", guard=guard)
    assert "status_replied" in elsewhere.heard


async def test_the_right_answer_is_no_failure(runtime):
    guard, _ = limits(code_failures=2)
    for _ in range(5):
        c = await call(runtime, "111111118#,5678", guard=guard)
        assert "status_replied" in c.heard


@pytest.mark.parametrize(
    ("caller", "given", "same"),
    [
        ("13912345678", "13912345678", True),
        ("+8613912345678", "139-1234-5678", True),
        ("01062345678", "010-62345678", True),
        ("62345678", "010-62345678", False),  # a local caller id without the area code
        ("13912345679", "13912345678", False),
        ("", "", False),
        ("anonymous", "", False),
        ("5678", "13912345678", False),
    ],
)
def test_same_number(caller: str, given: str, same: bool):
    assert same_number(caller, given) is same


def test_the_last_four_digits_are_asked_only_of_a_number_that_has_more():
    assert last_digits("139-1234-5678") == "5678"
    assert last_digits("62345678") == "5678"
    assert last_digits("2345678") is None
    assert last_digits("") is None
