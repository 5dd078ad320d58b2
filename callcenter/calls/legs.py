"""Outgoing legs of a call (an agent's seat, a department's number).

A leg is a channel we create with our own id, in our application, whose
events land in its own inbox. The caller's task dials it and waits, watching
its own inbox at the same time, so either side hanging up is seen at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from callcenter.ari import AriError, AriNotFound, AriPort, ChannelGone, Inbox
from callcenter.ari.events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    ChannelStateChange,
    Event,
    StasisEnd,
    StasisStart,
    UnknownEvent,
)

TERMINAL = (StasisEnd, ChannelDestroyed, ChannelHangupRequest)
STASIS_WAIT_SECONDS = 5.0
# A leg we hung up: how long its last events (StasisEnd) may take to arrive.
LEG_END_SECONDS = 5.0
# What a leg is dialled for; its channel id starts with it (``agent-…``), which
# is how a restarted service tells legs from callers.
PURPOSES = ("agent", "transfer", "supervisor", "snoop")
LEG_PREFIXES = tuple(f"{purpose}-" for purpose in PURPOSES)
# Q.850 causes of a leg that ended before answering, as Dial's statuses name them.
_FAILURE_BY_CAUSE = {
    17: "BUSY",
    18: "NOANSWER",
    19: "NOANSWER",
    21: "REJECTED",
    20: "CHANUNAVAIL",
    3: "CHANUNAVAIL",
    34: "CONGESTION",
}


class LegFailed(AriError):
    """The leg could not be created or dialled (what was created is gone again)."""


_STILL_DIALLING = ("", "ANSWER", "RINGING", "PROGRESS", "PROCEEDING")


@dataclass
class Leg:
    id: str
    inbox: Inbox
    created: bool = False
    failure: str | None = None  # why it never answered: BUSY, NOANSWER, CHANUNAVAIL, ...


async def terminal(inbox: Inbox) -> Event:
    """Consume an inbox until its channel is hung up or leaves; that event."""
    while True:
        event = await inbox.get()
        if isinstance(event, TERMINAL):
            return event


async def dial(
    ari: AriPort,
    open_inbox: Callable[[str], Inbox],
    close_inbox: Callable[[Inbox], None],
    *,
    endpoint: str,
    app: str,
    purpose: str,
    originator: str,
    timeout: int,
    stasis_wait: float | None = None,
) -> Leg:
    """Create and dial a leg; the caller's number shows on it (``caller`` = originator).

    Raises LegFailed when it cannot be placed; nothing is left behind then (nor
    when the dialling task is cancelled).
    """
    leg_id = f"{purpose}-{uuid.uuid4().hex}"
    leg = Leg(leg_id, open_inbox(f"channel:{leg_id}"))
    try:
        await ari.create_channel(leg_id, endpoint, app=app, app_args=purpose, originator=originator)
        leg.created = True
        # The reply can beat the channel into Stasis; dialling before that is a 409.
        # (STASIS_WAIT_SECONDS read now, not bound at import: a test can shorten it.)
        wait = STASIS_WAIT_SECONDS if stasis_wait is None else stasis_wait
        await leg.inbox.wait_for(lambda e: isinstance(e, StasisStart), wait)
        await ari.dial(leg_id, caller=originator, timeout=timeout)
    except (AriError, TimeoutError) as exc:
        await asyncio.shield(end(ari, leg, close_inbox))
        raise LegFailed(f"{endpoint}: {exc!r}") from exc
    except asyncio.CancelledError:
        await asyncio.shield(end(ari, leg, close_inbox))
        raise
    return leg


async def confirmed(
    inbox: Inbox, match: Callable[[Event], bool], limit: float, caller: Inbox | None = None
) -> Event:
    """The event on ``inbox`` by which Asterisk confirms an object we asked for
    (a snoop's StasisStart, a recording's RecordingStarted) before it is used.

    TimeoutError after ``limit``; ChannelGone if ``inbox``'s channel ends first,
    or (with the caller's inbox) if the caller hangs up meanwhile, with their event.
    """
    caller_left = asyncio.create_task(terminal(caller)) if caller else None
    seen = asyncio.create_task(inbox.wait_for(match))
    try:
        async with asyncio.timeout(limit):
            waiting = {seen, caller_left} if caller_left else {seen}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if caller_left is not None and caller_left in done:
            raise ChannelGone(caller_left.result())
        return seen.result()
    finally:
        for task in (seen, caller_left):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, AriError):
                    await task


async def until_answered(caller: Inbox | None, leg: Leg, limit: float) -> bool:
    """True when the leg answers, False when it fails or ``limit`` passes.

    With a caller inbox, raises ChannelGone (with the caller's event) if the
    caller hangs up first; without one, the caller is watched elsewhere.
    """
    caller_left = asyncio.create_task(terminal(caller)) if caller else None
    get: asyncio.Task[object] | None = None
    try:
        async with asyncio.timeout(limit):
            while True:
                get = asyncio.create_task(leg.inbox.get())
                waiting = {get, caller_left} if caller_left else {get}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if caller_left is not None and caller_left in done:
                    get.cancel()
                    raise ChannelGone(caller_left.result())
                event = get.result()
                if isinstance(event, ChannelStateChange) and event.channel.state == "Up":
                    return True
                if isinstance(event, UnknownEvent) and event.type == "Dial":
                    status = str(event.raw.get("dialstatus", ""))
                    if status not in _STILL_DIALLING:
                        leg.failure = status
                        return False
                if isinstance(event, TERMINAL):
                    cause = getattr(event, "cause", None)
                    failure = _FAILURE_BY_CAUSE.get(cause, "HANGUP") if cause else "HANGUP"
                    leg.failure = leg.failure or failure
                    return False
    except TimeoutError:
        leg.failure = "NOANSWER"
        return False
    finally:
        if get is not None:
            get.cancel()  # a read left waiting at the timeout would eat the leg's next event
        if caller_left is not None:
            caller_left.cancel()
            with contextlib.suppress(asyncio.CancelledError, ChannelGone):
                await caller_left


async def until_either_leaves(caller: Inbox, leg: Leg) -> Event | None:
    """Wait while both talk; the caller's terminal event if the caller left, else None."""
    caller_left = asyncio.create_task(terminal(caller))
    leg_left = asyncio.create_task(terminal(leg.inbox))
    done, pending = await asyncio.wait({caller_left, leg_left}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return caller_left.result() if caller_left in done else None


async def end(ari: AriPort, leg: Leg, close_inbox: Callable[[Inbox], None]) -> None:
    """Hang the leg up (if it is still there) and let its last events drain."""
    if leg.created:
        try:
            await ari.hangup(leg.id)
        except AriNotFound:  # gone already: nothing more will come from it
            close_inbox(leg.inbox)
            return
        except AriError:
            pass
        with contextlib.suppress(TimeoutError, ChannelGone, AriError):
            async with asyncio.timeout(LEG_END_SECONDS):
                while not isinstance(leg.inbox.ended, StasisEnd | ChannelDestroyed):
                    await leg.inbox.get()
    close_inbox(leg.inbox)
