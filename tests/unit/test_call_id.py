"""A call's id is on its channel before its record is opened: a kill in between
leaves a marked channel (served on that record by the next process) or no
record, never a record the next process's own would collide with (one row per
channel) and leave open. No request is added for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.calls import ari_port, session
from callcenter.calls.session import CALL_ID_VAR
from callcenter.db.models import Disposition
from tests.unit.call_harness import Centre, ivr_registry
from tests.unit.test_overload_restart import submitted_before


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)


async def test_a_call_is_marked_on_its_channel_before_its_record_is_opened(
    tmp_path: Path,
) -> None:
    centre = Centre(ivr_registry(tmp_path / "flows"))
    at_mark = submitted_before(centre, "set_variable")
    await centre.call("c-1")
    [opened] = centre.records.opened()
    assert centre.ari.variables[("c-1", CALL_ID_VAR)] == str(opened.call_id)
    assert at_mark[0] == []  # the first request of the call; nothing recorded yet
    assert [r[0] for r in centre.ari.requests].count("set_variable") == 1
    assert centre.records.dispositions() == [Disposition.COMPLETED]


async def test_a_caller_gone_before_the_mark_still_has_its_record(tmp_path: Path) -> None:
    centre = Centre(ivr_registry(tmp_path / "flows"))
    centre.ari.fail("set_variable", 404, nth=1)  # hung up just before it
    await centre.call("c-1")
    [opened] = centre.records.opened()
    [closed] = centre.records.closes
    assert (closed.call_id, closed.disposition) == (opened.call_id, Disposition.ABANDONED)
