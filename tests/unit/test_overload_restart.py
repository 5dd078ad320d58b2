"""A caller being refused under overload when the service dies: the next process
finishes the refusal (hung up, the same record closed once) instead of serving
the caller past the cap under a second record. The mark that says so costs the
busy prompt's path one request and every other call nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from callcenter.ari.events import Channel
from callcenter.calls import ari_port, legs, overload, session
from callcenter.calls.overload import REFUSED_VAR, Overload
from callcenter.calls.record_ops import OpenCall
from callcenter.config import CallsConfig
from callcenter.db.models import Disposition
from callcenter.ivr.prompts import PromptLibrary
from tests.unit.ari_payloads import channel_json
from tests.unit.call_harness import PROMPTS, Centre, ivr_registry, until
from tests.unit.fake_ari import Request

CALLER = "busy-1"


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(overload, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)
    monkeypatch.setattr(legs, "LEG_END_SECONDS", 0.0)


def with_cap(centre: Centre, max_calls: int = 1, slots: int = 1) -> Overload:
    """The service's refusals past ``max_calls`` (``slots`` busy prompts at a time)."""
    refusals = Overload(
        centre.ari,
        centre.router,
        centre.records,
        CallsConfig(max_calls=max_calls, overload_prompt_slots=slots),
        centre.deps.metrics,
        PromptLibrary(PROMPTS),
    )
    centre.service.overload = refusals
    return refusals


def arriving(centre: Centre, channel_id: str) -> Channel:
    centre.ari.channels[channel_id] = "PJSIP/citizen-trunk"
    return Channel.from_json(channel_json(channel_id))


def submitted_before(centre: Centre, method: str) -> list[list[Any]]:
    """What the call had submitted to the record writer each time ``method`` was answered."""
    seen: list[list[Any]] = []

    def hook(_n: int, request: Request) -> None:
        if request[0] == method:
            seen.append(list(centre.records.ops))

    centre.ari.after_request(hook)
    return seen


async def test_the_busy_prompt_marks_the_channel_before_its_record_is_opened(
    tmp_path: Path,
) -> None:
    centre = Centre(ivr_registry(tmp_path / "flows"), presses=None)
    refusals = with_cap(centre)
    at_mark = submitted_before(centre, "set_variable")
    assert refusals.take(arriving(centre, CALLER), datetime.now(UTC), serving=1)
    await refusals.settled()
    [opened] = centre.records.opened()
    assert centre.ari.variables[(CALLER, REFUSED_VAR)] == str(opened.call_id)
    assert at_mark == [[]]  # one request, and nothing recorded before it
    assert [r[0] for r in centre.ari.requests].count("set_variable") == 1


async def test_a_call_refused_unanswered_is_recorded_only_once_hung_up(tmp_path: Path) -> None:
    """No mark there (the path for a service far behind costs one request): a kill
    before the hang-up leaves no record, so the next process's is the only one."""
    centre = Centre(ivr_registry(tmp_path / "flows"), presses=None)
    refusals = with_cap(centre, slots=0)  # no prompt slot: refused unanswered
    at_hangup = submitted_before(centre, "hangup")
    assert refusals.take(arriving(centre, CALLER), datetime.now(UTC), serving=1)
    await refusals.settled()
    assert [r[0] for r in centre.ari.requests] == ["hangup"]
    assert at_hangup == [[]]
    [opened] = centre.records.opened()
    [closed] = centre.records.closes
    assert (closed.call_id, closed.last_stage) == (opened.call_id, "overload/rejected")


async def test_a_caller_refused_when_the_process_died_is_hung_up_on_its_one_record(
    tmp_path: Path,
) -> None:
    ivr = ivr_registry(tmp_path / "flows")
    first = Centre(ivr, presses=None)
    first.ari.auto_finish = False  # the busy prompt is still playing at the kill
    killed = with_cap(first)
    assert killed.take(arriving(first, CALLER), datetime.now(UTC), serving=1)
    await until(lambda: any(r[:2] == ("play", CALLER) for r in first.ari.requests))
    written = list(first.records.ops)  # all the killed process ever submitted
    assert first.records.closes == []
    [refused] = [op.call_id for op in written if isinstance(op, OpenCall)]

    second = Centre(ivr, presses=None)  # kill -9; the next process, on the same Asterisk
    second.ari.channels = dict(first.ari.channels)
    second.ari.up = set(first.ari.up)
    second.ari.variables = dict(first.ari.variables)  # the mark, on the channel
    refusals = with_cap(second, max_calls=2000)  # whatever its load now
    await second.service.reconcile()
    await refusals.settled()
    await second.finished()

    assert ("hangup", CALLER) in second.ari.requests
    assert not any(r[0] in ("answer", "play") for r in second.ari.requests)  # not served
    assert second.ours_left() == (set(), set())
    opened = {op.call_id for op in [*written, *second.records.ops] if isinstance(op, OpenCall)}
    assert opened == {refused}  # one record: the refusal's own
    closes = [*first.records.closes, *second.records.closes]
    assert [(c.call_id, c.disposition, c.last_stage) for c in closes] == [
        (refused, Disposition.OVERFLOW, "overload/busy_prompt")
    ]
    assert second.calls_ended("overflow") == 1.0
    await killed.stop()  # the test's own loose end: a killed process runs nothing more


async def test_without_a_cap_the_next_process_serves_the_caller_on_the_refusals_record(
    tmp_path: Path,
) -> None:
    """A service with no overload refusals (a test centre) cannot finish one: it
    serves the caller, still on the one record the refusal opened."""
    centre = Centre(ivr_registry(tmp_path / "flows"), presses=None)
    refused = "0b0e9b4c-3f5c-4a53-8d51-3c0e5b1f7a11"
    centre.ari.channels[CALLER] = "PJSIP/citizen-trunk"
    centre.ari.up.add(CALLER)
    centre.ari.variables[(CALLER, REFUSED_VAR)] = refused
    await centre.service.reconcile()
    await until(lambda: any(r[:2] == ("play", CALLER) for r in centre.ari.requests))
    centre.ari.hang_up(CALLER)
    await centre.finished()
    assert {str(op.call_id) for op in centre.records.opened()} == {refused}
    assert [str(c.call_id) for c in centre.records.closes] == [refused]
