"""A call from StasisStart to its closed record, branch by branch, against the fake
Asterisk: the caller hanging up after every request a plain IVR call makes,
Asterisk refusing every one of them (404, 409, 500, unreachable), events out of
order, a playback that never starts. Each time the call's record is closed
exactly once with the disposition a person would expect, and nothing of ours is
left in Asterisk. No test sleeps: waits are bounded, timers are shortened."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from callcenter.acd.agents import AgentState
from callcenter.acd.roster import AgentConfig
from callcenter.calls import ari_port, session
from callcenter.config import CallsConfig
from callcenter.db.models import Disposition
from callcenter.ivr.registry import IvrRegistry
from tests.unit.call_harness import IVR_FLOW, Centre, ivr_registry, kinds
from tests.unit.fake_ari import HANGUP_ORDER

# What a plain call asks of Asterisk: mark the channel, answer, welcome, the menu
# (stopped by the caller's key), goodbye, hang up.
PLAIN_CALL = ["answer", "play", "play", "stop_playback", "play", "hangup"]
STEPS = range(len(PLAIN_CALL) + 1)  # 0: the caller hangs up before the first request
D = Disposition


@pytest.fixture(scope="module")
def ivr(tmp_path_factory: pytest.TempPathFactory) -> IvrRegistry:
    return ivr_registry(tmp_path_factory.mktemp("ivr") / "flows")


@pytest.fixture(autouse=True)
def short_timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The waits a stuck call would sit through, down to one loop turn."""
    monkeypatch.setattr(session, "END_WAIT_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)
    yield


def closed_once(centre: Centre) -> Disposition:
    """The one close of the one call; no channel or bridge of ours left."""
    assert len(centre.records.opened()) == 1
    [disposition] = centre.records.dispositions()
    assert centre.ours_left() == (set(), set())
    assert centre.router.keys() == []  # every inbox closed
    return disposition


async def test_a_plain_call_makes_these_requests_and_completes(ivr: IvrRegistry) -> None:
    c = Centre(ivr)
    await c.call()
    assert kinds(c.ari.requests) == PLAIN_CALL
    assert closed_once(c) is D.COMPLETED
    [close] = c.records.closes
    assert close.hangup_cause == 16 and close.last_stage == "12345/bye"
    assert c.calls_ended("completed") == 1.0


@pytest.mark.parametrize("n", STEPS)
async def test_the_caller_hangs_up_after_any_request(ivr: IvrRegistry, n: int) -> None:
    c = Centre(ivr)
    if n == 0:
        c.ari.arrive("caller-1")
        c.ari.hang_up("caller-1")
        await c.finished()
    else:
        c.ari.hang_up_after(n, "caller-1")
        await c.call()
    expected = D.COMPLETED if n == len(PLAIN_CALL) else D.ABANDONED
    assert closed_once(c) is expected
    assert c.records.closes[0].hangup_cause == 16
    # Nothing asked of a channel after it was gone, but the one request that found out.
    assert len(c.ari.requests) <= n + 1


@pytest.mark.parametrize("n", STEPS[1:])
async def test_asterisk_says_the_channel_is_gone_at_any_request(ivr: IvrRegistry, n: int) -> None:
    """404: the caller hung up just before the request reached Asterisk."""
    c = Centre(ivr)
    c.ari.fail(None, 404, nth=n)
    await c.call()
    if PLAIN_CALL[n - 1] == "hangup":
        expected = D.COMPLETED  # the caller beat our own hangup
    elif PLAIN_CALL[n - 1] == "stop_playback":
        expected = D.COMPLETED  # the prompt had just ended by itself: the call goes on
    else:
        expected = D.ABANDONED
    assert closed_once(c) is expected
    if expected is D.ABANDONED:
        assert kinds(c.ari.requests) == PLAIN_CALL[:n]


@pytest.mark.parametrize("status", [409, 500, 0])
@pytest.mark.parametrize("n", STEPS[1:])
async def test_asterisk_refuses_any_request(ivr: IvrRegistry, n: int, status: int) -> None:
    """409 (wrong state), 500, or Asterisk unreachable (0) at request n: the call
    ends, counted as lost (not as the caller's doing), and the caller is hung up
    rather than left in silence (a refused hangup is asked again)."""
    c = Centre(ivr)
    c.ari.fail(None, status, nth=n)
    await c.call()
    disposition = closed_once(c)
    if PLAIN_CALL[n - 1] == "stop_playback":
        # The prompt the key was to stop ends by itself: the call goes on.
        assert disposition is D.COMPLETED
    elif PLAIN_CALL[n - 1] == "hangup":
        assert disposition is D.COMPLETED  # the caller was served; only the BYE was late
        assert kinds(c.ari.requests)[-2:] == ["hangup", "hangup"]
    else:
        assert disposition is D.LOST
        assert kinds(c.ari.requests)[-1] == "hangup"


@pytest.mark.parametrize("order", list(itertools.permutations(HANGUP_ORDER)))
async def test_hangup_events_in_any_order_end_the_call_once(
    ivr: IvrRegistry, order: tuple[str, ...]
) -> None:
    c = Centre(ivr, presses=None)
    c.ari.after_request(
        lambda n, r: c.ari.hang_up("caller-1", order=order) if r[0] == "play" else None
    )
    await c.call()
    assert closed_once(c) is D.ABANDONED
    assert kinds(c.ari.requests) == ["answer", "play"]


async def test_a_playback_finished_before_its_start_still_moves_the_call_on(
    ivr: IvrRegistry,
) -> None:
    c = Centre(ivr)
    c.ari.auto_finish = False

    def reversed_playback(_n: int, r: tuple[object, ...]) -> None:
        if r[0] == "play":
            c.ari.hold()  # PlaybackStarted, sent inside the request, is already out
            c.ari.finish_playback(str(r[2]))
            c.ari._playback_event("PlaybackStarted", str(r[2]), "caller-1", "playing")
            c.ari.release()  # Started after Finished... then Finished first

    c.ari.after_request(reversed_playback)
    await c.call()
    assert closed_once(c) is D.COMPLETED
    assert kinds(c.ari.requests).count("play") == 3


async def test_a_playback_that_never_starts_is_stopped_and_the_call_goes_on(
    ivr: IvrRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    c = Centre(ivr, presses=None)
    c.ari.starts_playbacks = False
    c.ari.after_request(
        lambda n, r: c.ari.press("caller-1", "1") if r[0] == "stop_playback" else None
    )
    await c.call()
    assert closed_once(c) is D.COMPLETED
    assert "never started" in caplog.text
    # Each prompt accepted but silent is stopped, not waited on for ever.
    assert kinds(c.ari.requests).count("stop_playback") == kinds(c.ari.requests).count("play")


async def test_the_caller_who_never_answers_the_menu_reaches_goodbye(tmp_path: Path) -> None:
    """Menu timeouts come from the flow: a 10 ms menu and no key take on_fail
    (goodbye) at once, with no five-second wait."""
    quick = ivr_registry(tmp_path / "flows", IVR_FLOW.replace("timeout: 5", "timeout: 0.01"))
    c = Centre(quick, presses=None)
    await c.call()
    assert closed_once(c) is D.COMPLETED
    played = [str(r[3]) for r in c.ari.requests if r[0] == "play"]
    assert "goodbye" in played[-1] and any("no_input" in p for p in played)


# The other ways a call can go ------------------------------------------------------------
async def test_a_number_without_a_flow_goes_back_to_the_dialplan_unanswered(
    ivr: IvrRegistry,
) -> None:
    c = Centre(ivr)
    c.ari.arrive(
        "caller-1", dialplan={"exten": "99999", "app_name": "Stasis", "app_data": "hotline"}
    )
    await c.finished()
    assert kinds(c.ari.requests) == ["continue_in_dialplan"]
    assert closed_once(c) is D.OVERFLOW


@pytest.mark.parametrize(
    ("feature", "state_after", "prompt"),
    [
        ("login", AgentState.AVAILABLE, "feature_ok"),
        ("logout", AgentState.LOGGED_OUT, "feature_ok"),
        ("dance", AgentState.LOGGED_OUT, "feature_failed"),  # no such feature code
    ],
)
async def test_an_agent_feature_code_from_the_seat(
    ivr: IvrRegistry, feature: str, state_after: AgentState, prompt: str
) -> None:
    agent = AgentConfig(
        name="Agent 1001", seat="seat-1001", skills={"general": 5}, languages=["zh"]
    )
    c = Centre(ivr, agents={"1001": agent})
    c.acd.seat_registered("seat-1001", True)
    if feature == "logout":
        c.acd.request_state("1001", AgentState.AVAILABLE)
    c.ari.arrive("seat-call", args=["feature", feature], name="PJSIP/seat-1001-0000002b")
    await c.finished()
    assert c.acd.agents["1001"].state is state_after
    [played] = [str(r[3]) for r in c.ari.requests if r[0] == "play"]
    assert prompt in played
    assert closed_once(c) is D.COMPLETED


async def test_asterisk_ending_the_channel_itself_is_lost_not_abandoned(
    ivr: IvrRegistry,
) -> None:
    """A soft hangup request (an operator, Asterisk shutting down) is not the caller."""
    c = Centre(ivr, presses=None)

    def asterisk_ends_it(_n: int, r: tuple[object, ...]) -> None:
        if r[0] == "play":
            c.ari.emit("ChannelHangupRequest", "caller-1", soft=True)
            c.ari.hang_up("caller-1", order=("StasisEnd", "ChannelDestroyed"))

    c.ari.after_request(asterisk_ends_it)
    await c.call()
    assert closed_once(c) is D.LOST


async def test_a_call_flooded_past_its_inbox_is_ended_as_lost(ivr: IvrRegistry) -> None:
    """A call that fell 10+ events behind cannot trust what it knows: hung up, lost."""
    c = Centre(ivr, config=CallsConfig(inbox_size=10), presses=None)
    c.ari.after_request(
        lambda n, r: c.ari.press("caller-1", "0" * 20) if r[0] == "answer" else None
    )
    await c.call()
    assert closed_once(c) is D.LOST
    assert kinds(c.ari.requests)[-1] == "hangup"


async def test_a_bug_in_the_call_code_fails_the_call_and_hangs_up(
    ivr: IvrRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    c = Centre(ivr)

    def broken(_n: int, r: tuple[object, ...]) -> None:
        if r[0] == "play":
            raise RuntimeError("something in the call code broke")

    c.ari.after_request(broken)
    await c.call()
    assert closed_once(c) is D.FAILED
    assert "something in the call code broke" in caplog.text
    assert kinds(c.ari.requests)[-1] == "hangup"
