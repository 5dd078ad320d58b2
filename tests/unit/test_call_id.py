"""A call's id is derived from its caller's channel: the process that took the
call and one that takes it over after a kill open the same record, whenever
the kill came, and no request per call writes the id anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.calls import ari_port, session
from callcenter.calls.journal import call_id_of
from callcenter.db.models import Disposition
from tests.unit.call_harness import Centre, ivr_registry


@pytest.fixture(autouse=True)
def short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)


async def test_a_calls_record_is_named_after_its_channel_with_no_request_for_it(
    tmp_path: Path,
) -> None:
    centre = Centre(ivr_registry(tmp_path / "flows"))
    await centre.call("c-1")
    await centre.call("c-2")
    assert [o.call_id for o in centre.records.opened()] == [call_id_of("c-1"), call_id_of("c-2")]
    assert call_id_of("c-1") != call_id_of("c-2")
    assert "set_variable" not in [r[0] for r in centre.ari.requests]  # nothing written per call
    assert centre.records.dispositions() == [Disposition.COMPLETED] * 2


async def test_a_caller_gone_before_the_answer_still_has_its_record(tmp_path: Path) -> None:
    centre = Centre(ivr_registry(tmp_path / "flows"))
    centre.ari.fail("answer", 404, nth=1)  # hung up just before it
    await centre.call("c-1")
    [opened] = centre.records.opened()
    [closed] = centre.records.closes
    assert opened.call_id == closed.call_id == call_id_of("c-1")
    assert closed.disposition is Disposition.ABANDONED
