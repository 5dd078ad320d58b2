"""AriCallPort (the IVR's view of a live channel) branch by branch against the fake
Asterisk: prompts and keys, digit collection, voicemail recording, the IVR's
transfer to a department. Timeouts under test are zero or the module's
constants shortened; nothing sleeps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from callcenter.ari import ChannelGone, EventRouter, Inbox
from callcenter.calls import ari_port, legs
from callcenter.calls.ari_port import AriCallPort, DialOut
from callcenter.calls.destinations import Destinations
from callcenter.directory import Directory, Entry
from callcenter.ivr.port import RecordedMessage, TransferResult
from tests.unit.ari_payloads import message
from tests.unit.fake_ari import FakeAri

DIRECTORY = Directory([Entry("SWJ", "市水务局", "88001234", "88001299")])
CALLER = "caller-1"
MENU = ["sound:/hotline/prompts/zh/main_menu"]


@pytest.fixture(autouse=True)
def short_timers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(ari_port, "PLAYBACK_START_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "RECORDING_SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "HANGUP_AFTER_RECORDING_SECONDS", 0.0)
    monkeypatch.setattr(ari_port, "TRANSFER_ANSWER_SLACK_SECONDS", 0.0)
    monkeypatch.setattr(legs, "LEG_END_SECONDS", 0.0)
    monkeypatch.setattr(legs, "STASIS_WAIT_SECONDS", 0.0)
    yield


class Line:
    """A caller's channel in Stasis, answered, and the port the IVR drives it by."""

    def __init__(self, *, answers: bool = True) -> None:
        self.router = EventRouter()
        self.ari = FakeAri(self.router, answers=answers)
        inbox = self.ari.caller(CALLER)
        self.ari.up.add(CALLER)
        gate = Destinations(lambda: DIRECTORY, lambda: {}, CollectorRegistry())
        self.port = AriCallPort(
            self.ari,
            inbox,
            CALLER,
            "13800000000",
            DialOut("PJSIP/{number}@dialout-trunk", "hotline", gate),
            open_inbox=lambda key: self.router.register(Inbox(key)),
            close_inbox=self.router.unregister,
        )

    def on(self, kind: str, action: Callable[[], object]) -> None:
        """Run ``action()`` right after each ``kind`` request."""
        self.ari.after_request(lambda _n, r: action() if r[0] == kind else None)

    def kinds(self) -> list[str]:
        return self.ari.kinds()


# Prompts and keys ---------------------------------------------------------------------------
async def test_a_key_during_an_interruptible_prompt_stops_it_and_is_kept() -> None:
    line = Line()
    line.on("play", lambda: line.ari.press(CALLER, "2"))
    await line.port.play(MENU, "zh", interruptible=True)
    assert line.kinds() == ["play", "stop_playback"]
    assert await line.port.read_digits(1, 0.0, 0.0, None) == "2"


async def test_a_key_pressed_before_an_interruptible_prompt_skips_it() -> None:
    line = Line()
    line.port.keys.append("1")
    await line.port.play(MENU, "zh", interruptible=True)
    assert line.kinds() == []


async def test_keys_do_not_stop_a_prompt_that_must_be_heard() -> None:
    line = Line()
    line.on("play", lambda: line.ari.press(CALLER, "2"))
    await line.port.play(MENU, "zh", interruptible=False)
    assert line.kinds() == ["play"]


async def test_hanging_up_during_a_prompt_ends_the_port_for_good() -> None:
    line = Line()
    line.ari.auto_finish = False
    line.on("play", lambda: line.ari.hang_up(CALLER))
    with pytest.raises(ChannelGone):
        await line.port.play(MENU, "zh", interruptible=True)
    with pytest.raises(ChannelGone):  # nothing more is asked of a channel that is gone
        await line.port.read_digits(4, 5.0, 5.0, "#")
    assert line.kinds() == ["play"]


# Collecting digits --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pressed", "max_digits", "terminator", "got"),
    [
        ("123#9", 12, "#", "123"),  # the terminator ends the input, and is not part of it
        ("12345", 3, None, "123"),  # the limit ends it
        ("", 4, "#", ""),  # nothing pressed: the first timeout (here zero) passes
    ],
)
async def test_read_digits(pressed: str, max_digits: int, terminator: str | None, got: str) -> None:
    line = Line()
    line.ari.press(CALLER, pressed)
    timeout = 5.0 if pressed else 0.0
    assert await line.port.read_digits(max_digits, timeout, 5.0, terminator) == got


async def test_read_digits_stops_at_the_inter_digit_timeout() -> None:
    line = Line()
    line.ari.press(CALLER, "7")
    assert await line.port.read_digits(4, 5.0, 0.0, "#") == "7"


async def test_read_digits_ignores_other_events_and_raises_when_the_caller_leaves() -> None:
    line = Line()
    line.ari.emit("ChannelVarset", CALLER, variable="X", value="1")
    line.ari.hang_up(CALLER)
    with pytest.raises(ChannelGone):
        await line.port.read_digits(4, 5.0, 5.0, "#")


# Voicemail ----------------------------------------------------------------------------------
NAME = "voicemail/2026/12/01/x-1"


async def test_a_message_ended_by_the_key() -> None:
    line = Line()

    def by_key() -> None:
        line.ari.press(CALLER, "#")
        line.ari.finish_recording(NAME, 4)

    line.on("record", by_key)
    message_ = await line.port.record(NAME, 60, True, "#")
    assert message_ == RecordedMessage(NAME, "wav", 4.0, caller_hung_up=False)


async def test_a_message_ended_by_hanging_up_is_kept() -> None:
    line = Line()

    line.ari.recording_seconds = 9
    line.on("record", lambda: line.ari.hang_up(CALLER))
    message_ = await line.port.record(NAME, 60, True, "#")
    assert message_ == RecordedMessage(NAME, "wav", 9.0, caller_hung_up=True)


async def test_hanging_up_before_saying_anything_deletes_the_empty_file_and_ends_the_call() -> None:
    line = Line()

    line.ari.recording_seconds = 0
    line.on("record", lambda: line.ari.hang_up(CALLER))
    with pytest.raises(ChannelGone):
        await line.port.record(NAME, 60, True, "#")
    assert "delete_stored_recording" in line.kinds() and NAME not in line.ari.stored


async def test_a_failed_recording_is_no_message() -> None:
    line = Line()
    failed = {"name": NAME, "format": "wav", "target_uri": f"channel:{CALLER}", "state": "failed"}
    line.on("record", lambda: line.ari.send(message("RecordingFailed", recording=failed)))
    assert await line.port.record(NAME, 60, True, "#") is None


async def test_a_recording_whose_end_was_never_reported_is_kept_if_its_file_is_there() -> None:
    line = Line()

    def caller_leaves() -> None:
        line.ari.recordings.pop(NAME)  # written, but RecordingFinished got lost
        line.ari.stored[NAME] = b"RIFF"
        line.ari.hang_up(CALLER)

    line.on("record", caller_leaves)
    message_ = await line.port.record(NAME, 60, True, "#")
    assert message_ is not None and message_.caller_hung_up
    assert "stored_recording" in line.kinds()


# The IVR's transfer -------------------------------------------------------------------------
def nothing_left(line: Line) -> None:
    assert line.ari.bridges == {}
    assert set(line.ari.channels) <= {CALLER}
    assert line.router.keys() == [f"channel:{CALLER}"]  # the leg's inbox closed


async def test_a_busy_department_is_no_answer_and_leaves_nothing() -> None:
    line = Line(answers=False)

    def busy() -> None:
        [leg] = [r[1] for r in line.ari.requests if r[0] == "dial"]
        line.ari.send(message("Dial", peer={"id": leg}, dialstatus="RINGING"))
        line.ari.send(message("Dial", peer={"id": leg}, dialstatus="BUSY"))

    line.on("dial", busy)
    assert await line.port.transfer("dept:SWJ", 20) is TransferResult.NO_ANSWER
    nothing_left(line)


@pytest.mark.parametrize("refused", ["create_bridge", "start_moh", "create_channel", "dial"])
async def test_asterisk_refusing_a_step_fails_the_transfer_and_leaves_nothing(
    refused: str,
) -> None:
    line = Line()
    line.ari.fail(refused, 500)
    assert await line.port.transfer("dept:SWJ", 20) is TransferResult.FAILED
    nothing_left(line)


async def test_the_caller_hanging_up_while_the_department_rings() -> None:
    line = Line(answers=False)
    line.on("dial", lambda: line.ari.hang_up(CALLER))
    with pytest.raises(ChannelGone):
        await line.port.transfer("dept:SWJ", 20)
    assert line.ari.bridges == {} and line.ari.channels == {}
    assert "hangup" in line.kinds()  # the ringing leg is hung up, not left ringing


async def test_a_connected_transfer_ends_when_the_department_hangs_up() -> None:
    line = Line()
    transfer = asyncio.create_task(line.port.transfer("dept:SWJ", 20))
    async with asyncio.timeout(5):
        leg = await line.ari.answered.get()
    await line.ari.until_joined(leg)
    line.ari.hang_up(leg)
    assert await transfer is TransferResult.CONNECTED
    nothing_left(line)


async def test_a_department_ringing_past_the_limit_is_no_answer() -> None:
    """The ring limit is the flow's; here zero (and no slack), so no real ringing."""
    line = Line(answers=False)
    assert await line.port.transfer("dept:SWJ", 0) is TransferResult.NO_ANSWER
    assert line.kinds().count("hangup") == 1  # the ringing leg
    nothing_left(line)


async def test_a_leg_that_never_reaches_stasis_fails_the_transfer() -> None:
    """Dialling before StasisStart would be a 409: the leg is given up instead."""
    line = Line()
    line.ari.legs_enter_stasis = False
    assert await line.port.transfer("dept:SWJ", 20) is TransferResult.FAILED
    assert "dial" not in line.kinds()
    nothing_left(line)
