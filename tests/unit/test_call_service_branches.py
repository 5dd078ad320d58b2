"""CallService against the fake Asterisk: the max_calls cap, draining on shutdown,
and reconciling after a (re)connection (a channel that vanished meanwhile, a
caller a previous process left in Stasis, its orphan legs and empty bridges,
Asterisk refusing or the caller hanging up while the service looks). Every call
record opened is closed exactly once; nothing of ours is left in Asterisk."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Iterator

import pytest

from callcenter.ari import AriError, Inbox
from callcenter.calls import ari_port, session
from callcenter.calls.journal import call_id_of
from callcenter.calls.service import LEGACY_CALL_ID_VAR
from callcenter.db.models import Disposition
from callcenter.ivr.registry import IvrRegistry
from tests.unit.call_harness import Centre, ivr_registry, kinds, until

D = Disposition


@pytest.fixture(scope="module")
def ivr(tmp_path_factory: pytest.TempPathFactory) -> IvrRegistry:
    return ivr_registry(tmp_path_factory.mktemp("ivr") / "flows")


@pytest.fixture(autouse=True)
def short_timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)
    yield


def closed_once_each(c: Centre) -> dict[str, Disposition]:
    """Channel → disposition; each record opened closed exactly once."""
    opened = {op.call_id: op.channel_id for op in c.records.opened()}
    closes = [close.call_id for close in c.records.closes]
    assert sorted(closes, key=str) == sorted(opened, key=str), "a record closed twice or never"
    return {opened[close.call_id]: close.disposition for close in c.records.closes}


async def in_welcome(c: Centre, channel_id: str) -> None:
    """A caller who arrived and is hearing the welcome prompt (it does not end)."""
    c.ari.auto_finish = False
    c.ari.arrive(channel_id)
    async with asyncio.timeout(5):
        while not any(r[0] == "play" and r[1] == channel_id for r in c.ari.requests):
            await c.ari.asked()


# max_calls --------------------------------------------------------------------------------
async def test_past_max_calls_a_caller_is_handed_back_to_the_dialplan(ivr: IvrRegistry) -> None:
    c = Centre(ivr, max_calls=1)
    await in_welcome(c, "caller-1")
    c.ari.arrive("caller-2")
    async with asyncio.timeout(5):
        while "caller-2" in c.ari.channels:
            await c.ari.asked()
    assert ("continue_in_dialplan", "caller-2", "hotline-fallback") in c.ari.requests
    assert not any(r[0] in ("answer", "play") and r[1] == "caller-2" for r in c.ari.requests)
    c.ari.hang_up("caller-1")
    await c.finished()
    assert closed_once_each(c) == {"caller-1": D.ABANDONED, "caller-2": D.OVERFLOW}
    assert c.ours_left() == (set(), set())


async def test_a_refused_hand_back_hangs_the_caller_up_rather_than_strand_them(
    ivr: IvrRegistry,
) -> None:
    c = Centre(ivr, max_calls=1)
    await in_welcome(c, "caller-1")
    c.ari.fail("continue_in_dialplan", 500)
    c.ari.arrive("caller-2")
    async with asyncio.timeout(5):
        while "caller-2" in c.ari.channels:
            await c.ari.asked()
    assert ("hangup", "caller-2") in c.ari.requests
    c.ari.hang_up("caller-1")
    await c.finished()
    assert closed_once_each(c) == {"caller-1": D.ABANDONED, "caller-2": D.OVERFLOW}
    assert c.ours_left() == (set(), set())


# drain ------------------------------------------------------------------------------------
async def test_drain_hangs_up_what_is_left_after_the_grace(ivr: IvrRegistry) -> None:
    c = Centre(ivr)
    await in_welcome(c, "caller-1")
    await c.service.drain(grace=0)
    assert closed_once_each(c) == {"caller-1": D.SHUTDOWN}
    assert ("hangup", "caller-1") in c.ari.requests
    assert c.ours_left() == (set(), set())


async def test_while_draining_calls_finish_and_new_ones_are_handed_back(
    ivr: IvrRegistry,
) -> None:
    c = Centre(ivr)
    await in_welcome(c, "caller-1")
    draining = asyncio.create_task(c.service.drain(grace=5))
    await until(lambda: c.service.draining)
    c.ari.arrive("caller-2")  # during the drain
    async with asyncio.timeout(5):
        while "caller-2" in c.ari.channels:
            await c.ari.asked()
    c.ari.auto_finish = True  # the rest of the call's prompts end by themselves
    [playing] = list(c.ari.playbacks)
    c.ari.finish_playback(playing)  # the first call goes on to its end within the grace
    await draining
    assert closed_once_each(c) == {"caller-1": D.COMPLETED, "caller-2": D.OVERFLOW}
    assert c.ours_left() == (set(), set())


# reconcile --------------------------------------------------------------------------------
async def test_a_channel_that_vanished_while_disconnected_ends_its_call_as_lost(
    ivr: IvrRegistry,
) -> None:
    c = Centre(ivr)
    await in_welcome(c, "caller-1")
    del c.ari.channels["caller-1"]  # Asterisk restarted: no event ever says so
    await c.service.reconcile()
    await c.finished()
    assert closed_once_each(c) == {"caller-1": D.LOST}
    [lost] = c.records.lost
    assert lost.live_channels == frozenset()  # older records of vanished channels close too


async def test_a_caller_left_in_stasis_is_taken_over_after_the_welcome(
    ivr: IvrRegistry,
) -> None:
    c = Centre(ivr)
    call_id = call_id_of("old-1")
    c.ari.channels["old-1"] = "PJSIP/citizen-trunk"
    c.ari.up.add("old-1")
    await c.service.reconcile()
    await c.finished()
    assert closed_once_each(c) == {"old-1": D.COMPLETED}
    assert [close.call_id for close in c.records.closes] == [call_id]  # the same record
    played = [str(r[3]) for r in c.ari.requests if r[0] == "play"]
    assert not any("welcome" in p for p in played)  # nothing replayed from the start
    assert "answer" not in kinds(c.ari.requests)
    assert c.ours_left() == (set(), set())


async def test_a_channel_something_of_ours_follows_is_not_taken_over(ivr: IvrRegistry) -> None:
    """A caller being refused (overload: an inbox, no call task) when the link
    drops is left to its refusal, not served a second time by the reconcile."""
    c = Centre(ivr)
    c.ari.channels["refused-1"] = "PJSIP/citizen-trunk"
    c.ari.up.add("refused-1")
    refusal = c.router.register(Inbox("channel:refused-1"))
    await c.service.reconcile()
    await c.finished()
    assert c.records.opened() == []  # no second record, no IVR for it
    assert not any(r[0] in ("play", "answer") for r in c.ari.requests)
    c.router.unregister(refusal)


async def test_orphan_legs_are_hung_up_and_our_empty_bridges_deleted(ivr: IvrRegistry) -> None:
    c = Centre(ivr)
    c.ari.channels["agent-0f"] = "PJSIP/seat-1001"  # its caller's task died with us
    c.ari.bridges["hotline-empty"] = []
    c.ari.bridges["someone-else"] = []  # not ours: left alone
    await c.service.reconcile()
    await c.finished()
    assert ("hangup", "agent-0f") in c.ari.requests
    assert c.ours_left() == (set(), {"someone-else"})
    assert c.records.closes == []


async def test_a_refused_channel_list_fails_the_reconcile_but_not_the_calls(
    ivr: IvrRegistry,
) -> None:
    c = Centre(ivr)
    await in_welcome(c, "caller-1")
    c.ari.fail("list_channels", 500)
    with pytest.raises(AriError):
        await c.service.reconcile()  # EventStream logs it and tries at the next connection
    c.ari.auto_finish = True  # the rest of the call's prompts end by themselves
    [playing] = list(c.ari.playbacks)
    c.ari.finish_playback(playing)
    await c.finished()
    assert closed_once_each(c) == {"caller-1": D.COMPLETED}
    assert c.ours_left() == (set(), set())


@pytest.mark.parametrize("after", ["list_channels", "list_bridges", "get_variable"])
async def test_a_caller_left_in_stasis_who_hangs_up_while_we_look(
    ivr: IvrRegistry, after: str
) -> None:
    c = Centre(ivr)
    c.ari.channels["old-1"] = "PJSIP/citizen-trunk"
    c.ari.up.add("old-1")
    c.ari.after_request(
        lambda n, r: c.ari.hang_up("old-1") if r[0] == after and "old-1" in c.ari.channels else None
    )
    await c.service.reconcile()
    await c.finished()
    for disposition in closed_once_each(c).values():
        assert disposition is D.ABANDONED
    assert c.ours_left() == (set(), set())


def leftovers(c: Centre, call_id: uuid.UUID) -> None:
    """What a killed service left in Asterisk: a caller in Stasis, served on
    ``call_id`` (an older version's mark), an agent leg of a call nobody follows,
    an empty bridge of ours."""
    c.ari.channels["old-1"] = "PJSIP/citizen-trunk"
    c.ari.up.add("old-1")
    c.ari.variables[("old-1", LEGACY_CALL_ID_VAR)] = str(call_id)
    c.ari.channels["agent-0f"] = "PJSIP/seat-1001"
    c.ari.bridges["hotline-empty"] = []


# list_channels, list_bridges, get_variable (an older version's call id),
# get_variable (journal), get_variable (refused: no journal), hangup (the orphan
# leg), delete_bridge, list_endpoints
RECONCILE_REQUESTS = 8


@pytest.mark.parametrize("status", [404, 500, 0])
@pytest.mark.parametrize("n", range(1, RECONCILE_REQUESTS + 1))
async def test_a_reconcile_refused_at_any_request_is_made_good_by_the_next(
    ivr: IvrRegistry, n: int, status: int
) -> None:
    """Whatever Asterisk refuses while the service looks, the next (re)connection's
    reconcile finishes the job: the caller is taken over once, on its own record."""
    c = Centre(ivr)
    call_id = uuid.uuid4()
    leftovers(c, call_id)
    c.ari.fail(None, status, nth=n)
    with contextlib.suppress(AriError):
        await c.service.reconcile()
    await c.finished()
    c.ari.failures.clear()
    await c.service.reconcile()  # the next connection
    await c.finished()
    dispositions = closed_once_each(c)
    if "old-1" in dispositions:
        assert dispositions["old-1"] in (D.COMPLETED, D.ABANDONED)
    assert [close.call_id for close in c.records.closes].count(call_id) <= 1
    assert c.ours_left() == (set(), set())


async def test_the_reconcile_makes_these_requests(ivr: IvrRegistry) -> None:
    c = Centre(ivr)
    leftovers(c, uuid.uuid4())
    await c.service.reconcile()
    first = kinds(c.ari.requests)[:RECONCILE_REQUESTS]
    assert sorted(first) == sorted(
        [
            "list_channels",
            "list_bridges",
            "get_variable",
            "get_variable",
            "get_variable",
            "hangup",
            "delete_bridge",
            "list_endpoints",
        ]
    )
