"""A caller talking in a recorded mixing bridge with agents and departments.

The caller's task owns the conversation and waits in :meth:`Conversation.wait`
until the caller hangs up or nobody is left to talk to. Nothing else drives
Asterisk on it: API handlers send commands (transfer, 三方连线, hold,
supervision; see :mod:`commands`) with :meth:`Conversation.ask`, and the
caller's task does them one at a time between the events it watches, as it
does a softphone's transfer. Every object it creates (a leg, a snoop) is used
only once Asterisk has confirmed it, or the command is refused in words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from callcenter.acd.agents import AgentState
from callcenter.acd.service import AcdService
from callcenter.ari import AriError, AriNotFound, AriPort, AriUnavailable, ChannelGone, Inbox
from callcenter.ari.events import (
    ChannelEvent,
    ChannelHangupRequest,
    ChannelTransfer,
    Event,
    StasisStart,
)
from callcenter.calls import legs
from callcenter.calls.commands import (
    CallBusy,
    Command,
    CommandInbox,
    ConversationError,
    Hold,
    NoSuchConversation,
    Supervise,
    Transfer,
    TransferDone,
)
from callcenter.calls.destinations import Destinations
from callcenter.calls.journal import CallJournal, Journal, PartyNote
from callcenter.directory import Destination, DestinationRefused
from callcenter.ivr.port import Trace

__all__ = [
    "CallBusy",
    "Conversation",
    "ConversationError",
    "Dialling",
    "NoSuchConversation",
    "Party",
]

log = logging.getLogger(__name__)

# The timeline step of a party that Asterisk (not a phone, not us) hung up: the
# call then ends as lost, whatever else it reached.
CUT_BY_ASTERISK = "cut_by_asterisk"

T = TypeVar("T")

# How long a command may wait for the call's task to take it (another command
# running first, such as a transfer ringing a department) before it is refused.
COMMAND_START_SECONDS = 10.0
# Beyond the ring time, how long a command may run before its sender stops waiting.
COMMAND_SLACK_SECONDS = 20.0
ENDED = "the call ended"


@dataclass(frozen=True, slots=True)
class Dialling:
    """What the conversation needs to place legs."""

    ari: AriPort
    open_inbox: Callable[[str], Inbox]
    close_inbox: Callable[[Inbox], None]
    app: str
    dial_out: str  # PJSIP/{number}@dialout-trunk
    seat_endpoint: str  # PJSIP/{seat}
    ring_timeout: int
    acd: AcdService
    destinations: Destinations  # the directory and the seats: where calls may go
    # How long Asterisk may take to confirm what we created (a leg or snoop in Stasis).
    confirm_seconds: float | None = None  # None: legs.STASIS_WAIT_SECONDS, read when used


@dataclass(eq=False)
class Party:
    leg: legs.Leg
    agent_id: str | None = None  # None: a department number
    number: str | None = None

    def note(self) -> PartyNote:
        return PartyNote(self.leg.id, self.agent_id, self.number)


def resumed_parties(journal: Journal, open_inbox: Callable[[str], Inbox]) -> list[Party]:
    """The parties a previous process left in the bridge (see adoption.plan),
    with their inboxes open again: this process owns their legs from now on."""
    return [
        Party(legs.Leg(p.leg, open_inbox(f"channel:{p.leg}"), created=True), p.agent, p.number)
        for p in journal.talkers()
    ]


@dataclass(eq=False)
class Conversation:
    call_id: uuid.UUID
    caller_channel: str
    caller_inbox: Inbox
    bridge_id: str
    queue: str
    dialling: Dialling
    trace: Trace
    parties: list[Party] = field(default_factory=list)
    transferred_to: str | None = None
    supervisors: list[legs.Leg] = field(default_factory=list)
    on_hold: bool = False
    closed: bool = False  # the caller's part is over: nothing may join any more
    commands: CommandInbox = field(default_factory=CommandInbox)
    start_within: float = COMMAND_START_SECONDS  # see ask()
    caller_gone: Event | None = None  # the caller's hang-up, once seen
    # Where who is in the bridge is noted for a restart (on the caller's channel).
    journal: CallJournal | None = None
    _side_bridges: list[str] = field(default_factory=list)
    _departed: list[legs.Leg] = field(default_factory=list)  # left by themselves: inboxes open
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Agents whose part ended (for wrap-up), with the seconds they talked.
    finished_agents: list[str] = field(default_factory=list)

    @property
    def agents(self) -> list[str]:
        return [p.agent_id for p in self.parties if p.agent_id]

    # Other tasks (API handlers) -------------------------------------------------------
    async def ask(self, command: Command[T]) -> T:
        """Send ``command`` to the call's task and wait for its result.

        Refused (ConversationError) when the call has ended or ends meanwhile;
        CallBusy when the call's task has not taken it within ``start_within``
        (it is then withdrawn: nothing was done)."""
        self.commands.put(command)
        try:
            try:
                return await asyncio.wait_for(asyncio.shield(command.result), self.start_within)
            except TimeoutError:
                if command.withdraw():
                    busy = self.commands.current
                    doing = f" with {busy.what}" if busy is not None else ""
                    raise CallBusy(
                        f"{command.what} was not done: the call was busy{doing} for "
                        f"{self.start_within:g} s; try again"
                    ) from None
            limit = self.dialling.ring_timeout + COMMAND_SLACK_SECONDS
            try:
                return await asyncio.wait_for(asyncio.shield(command.result), limit)
            except TimeoutError:
                command.result.add_done_callback(_retrieve)
                raise ConversationError(
                    f"{command.what} did not finish within {limit:g} s; "
                    "the call's timeline shows how it ended"
                ) from None
        except asyncio.CancelledError:  # the sender went away
            if not command.withdraw():  # taken already: nobody will read its outcome
                command.result.add_done_callback(_retrieve)
            raise

    # The caller's task ---------------------------------------------------------------
    async def wait(self) -> Event | None:
        """Until the caller leaves (their event) or every other party has (None),
        doing the commands sent meanwhile one at a time."""
        try:
            while self.caller_gone is None and self.parties:
                await self._next()
            return self.caller_gone
        finally:
            self.commands.close(ENDED)

    async def _next(self) -> None:
        """Wait for one thing (the caller leaving, a party's event, a command) and handle it."""
        caller_left = asyncio.create_task(legs.terminal(self.caller_inbox))
        next_command = asyncio.create_task(self.commands.get())
        watchers = {asyncio.create_task(self._watch(p)): p for p in self.parties}
        changed = asyncio.create_task(self._changed.wait())
        tasks: list[asyncio.Task[Any]] = [caller_left, next_command, changed, *watchers]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Reads cancelled while waiting lose nothing: inboxes pop only on return.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        self._changed.clear()
        command = next_command.result() if next_command in done else None
        if caller_left in done:
            self.caller_gone = caller_left.result()
            if command is not None:
                command.refuse("the caller hung up")
            return
        for task, party in watchers.items():
            if task not in done or task.cancelled():
                continue
            if task.exception() is not None:  # a broken leg is a gone leg
                log.error("watching %s failed", party.leg.id, exc_info=task.exception())
                self._drop(party)
                self._departed.append(party.leg)
                continue
            await self._on_party_event(party, task.result())
        if command is not None:
            if self.caller_gone is not None or not self.parties:
                command.refuse(ENDED)
            else:
                await self._do(command)

    async def _do(self, command: Command[Any]) -> None:
        """Run one command here, in the caller's task, and resolve its future."""
        if command.result.done():  # withdrawn while a party's event was handled first
            return
        self.commands.current = command
        command.taken.set()
        try:
            if isinstance(command, Transfer):
                done = await self.transfer(command.destination, blind=command.blind)
                command.result.set_result(done)
            elif isinstance(command, Hold):
                command.result.set_result(await self.hold(command.on))
            elif isinstance(command, Supervise):
                command.result.set_result(await self.supervise(command.mode, command.seat))
            else:
                raise ConversationError(f"unknown command {command!r}")
        except ConversationError as exc:
            if not command.result.done():
                command.result.set_exception(exc)
        except (AriNotFound, ChannelGone):
            command.refuse(f"{ENDED} meanwhile")
        except AriUnavailable as exc:  # 503 as before: Asterisk is away
            if not command.result.done():
                command.result.set_exception(exc)
        except AriError as exc:
            log.warning("call %s: %s failed: %s", self.call_id, command.what, exc)
            command.refuse(f"Asterisk refused it ({exc})")
        except asyncio.CancelledError:
            command.refuse("the service is stopping")
            raise
        except Exception:
            log.exception("call %s: %s failed", self.call_id, command.what)
            command.refuse("it failed (see the service's log)")
        finally:
            self.commands.current = None

    async def _watch(self, party: Party) -> Event:
        while True:
            event = await party.leg.inbox.get()
            if isinstance(event, (*legs.TERMINAL, ChannelTransfer)):
                return event

    async def _on_party_event(self, party: Party, event: Event) -> None:
        if isinstance(event, ChannelTransfer):
            # The agent pressed transfer on the softphone (blind, to a number).
            wanted, target = event.destination, event.destination[:64]
            self.trace.step("softphone_transfer", agent=party.agent_id, to=target)
            try:
                if not wanted:  # an attended transfer names the consulted call, not a number
                    raise ConversationError("only blind transfers (to a number) are supported")
                destination = self.dialling.destinations.resolve(
                    wanted, path="softphone", who=f"agent {party.agent_id}", call_id=self.call_id
                )
                await self.transfer(destination, blind=True, by=party)
            except DestinationRefused as exc:  # the call stays with the agent
                self.trace.step("transfer_refused", to=target, reason=str(exc))
                await self._progress(party, "channel_unavailable")
            except (ConversationError, AriError) as exc:
                self.trace.step("transfer_failed", to=target, reason=str(exc))
                await self._progress(party, "channel_unavailable")
            return
        self._drop(party)
        self._departed.append(party.leg)  # hung up (if still there) and closed at the end
        self.trace.step("party_left", agent=party.agent_id, number=party.number)
        if isinstance(event, ChannelHangupRequest) and event.soft:
            # Not the party's phone and not us (we never hang up a party still in
            # the call): Asterisk itself (shutdown, restart) or an operator.
            self.trace.step(CUT_BY_ASTERISK, agent=party.agent_id, number=party.number)

    async def check_parties(self) -> None:
        """After a take-over: a party whose leg ended before this process opened
        its inbox (between the reconcile's listing and now) told nobody; it has left."""
        for party in list(self.parties):
            try:
                await self.dialling.ari.get_channel(party.leg.id)
            except AriNotFound:
                self._drop(party)
                party.leg.created = False  # nothing left to hang up
                self._departed.append(party.leg)
                self.trace.step("party_left", agent=party.agent_id, number=party.number)
            except AriError:  # Asterisk busy or away: its events will tell
                pass

    def _drop(self, party: Party) -> None:
        if party in self.parties:
            self.parties.remove(party)
            if party.agent_id:
                self.finished_agents.append(party.agent_id)
        self._changed.set()

    # Call control, run by the caller's task only ------------------------------------
    async def transfer(
        self, destination: Destination, *, blind: bool, by: Party | None = None
    ) -> TransferDone:
        """Bring ``destination`` in: an agent's seat, or a department's number on the
        dial-out trunk. Blind: the transferring agents leave once it answers."""
        target = destination.number or destination.key  # as the call's record keeps it
        party = await self._dial(destination)
        try:
            self._still_on()
            await self.dialling.ari.add_channel(self.bridge_id, party.leg.id)
        except (AriError, ConversationError) as exc:  # the caller left meanwhile
            await asyncio.shield(self._never_joined(party))
            raise ConversationError(f"{target}: {ENDED} meanwhile") from exc
        except asyncio.CancelledError:
            await asyncio.shield(self._never_joined(party))
            raise
        if blind and self.on_hold:  # nobody would be left to take the caller off hold
            await self._off_hold_for(party, target)
        leaving = [p for p in self.parties if p.agent_id] if blind else []
        if by is not None and blind and by not in leaving:
            leaving.append(by)
        self.parties.append(party)
        self.transferred_to = target
        self.trace.step(
            "transferred" if blind else "conference_added", to=target, destination=destination.key
        )
        if self.journal is not None:  # before the leaving are hung up: a kill keeps the new
            staying = [p.note() for p in self.parties if p not in leaving]
            await self.journal.note(parties=tuple(staying), transferred_to=target)
        if by is not None:  # tell the transferring phone before it is hung up
            await self._progress(by, "channel_answered")
        for old in leaving:
            self._drop(old)
            await self._hang_up(old.leg)
        self._changed.set()
        return TransferDone(target, self.agents)

    async def _off_hold_for(self, party: Party, target: str) -> None:
        """A blind transfer of a caller on hold: the caller joins the new party in
        the bridge, or the transfer is refused (the new party hung up, the caller
        still on hold with the agent), never left on music with nobody to come back."""
        try:
            await self.hold(False)
        except (AriError, ConversationError) as exc:
            await asyncio.shield(self._never_joined(party))
            if isinstance(exc, AriNotFound | ChannelGone) or self.caller_gone is not None:
                raise ConversationError(f"{target}: {ENDED} meanwhile") from exc
            with contextlib.suppress(AriError):  # music again if it was stopped
                await self.dialling.ari.start_moh(self.caller_channel)
            raise ConversationError(
                f"{target}: the caller could not be taken off hold ({exc}); "
                "the caller is still on hold"
            ) from exc
        except asyncio.CancelledError:
            await asyncio.shield(self._never_joined(party))
            raise

    async def _never_joined(self, party: Party) -> None:
        """A party that answered but could not join: hang it up; an agent (on the
        call since they answered) goes through wrap-up like any who talked."""
        await self._hang_up(party.leg)
        if party.agent_id:
            self.finished_agents.append(party.agent_id)

    def _still_on(self) -> None:
        if self.closed or self.caller_gone is not None:
            raise ConversationError(f"{ENDED} meanwhile")

    async def _progress(self, party: Party, state: str) -> None:
        with contextlib.suppress(AriError):
            await self.dialling.ari.transfer_progress(party.leg.id, state)

    async def _hang_up(self, leg: legs.Leg) -> None:
        await legs.end(self.dialling.ari, leg, self.dialling.close_inbox)

    async def _ring(self, endpoint: str, purpose: str, target: str) -> legs.Leg | None:
        """Dial a leg and wait while it rings, watching the caller: the leg once it
        answers, None (hung up again) if it does not. The caller hanging up ends
        the ring at once (ConversationError; the hang-up is kept for wait())."""
        d = self.dialling
        try:
            leg = await legs.dial(
                d.ari,
                d.open_inbox,
                d.close_inbox,
                endpoint=endpoint,
                app=d.app,
                purpose=purpose,
                originator=self.caller_channel,
                timeout=d.ring_timeout,
                stasis_wait=self._confirm_seconds(),
            )
        except AriError as exc:
            raise ConversationError(f"{target} could not be dialled: {exc}") from exc
        try:
            answered = await legs.until_answered(self.caller_inbox, leg, d.ring_timeout + 5)
        except ChannelGone as gone:
            self.caller_gone = gone.event
            await asyncio.shield(self._hang_up(leg))
            raise ConversationError(f"the caller hung up while {target} rang") from gone
        except BaseException:
            await asyncio.shield(self._hang_up(leg))
            raise
        if not answered:
            await self._hang_up(leg)
            return None
        return leg

    async def _dial(self, destination: Destination) -> Party:
        d = self.dialling
        target, agent_id = destination.number or destination.key, destination.agent_id
        if agent_id is not None:
            agent = d.acd.agents.get(agent_id)
            if agent is None or not agent.can_take_calls():
                raise ConversationError(f"agent {agent_id} is not available")
            d.acd.take(agent, self.queue, str(self.call_id))  # nobody else may ring them now
            endpoint, purpose = d.seat_endpoint.format(seat=agent.config.seat), "agent"
        elif destination.number is not None:  # from the directory, never free text
            endpoint, purpose = d.dial_out.format(number=destination.number), "transfer"
        else:
            raise ConversationError(f"cannot transfer to {target!r}")
        try:
            leg = await self._ring(endpoint, purpose, target)
        except BaseException:
            self._release(agent_id, answered=False)
            raise
        if leg is None:
            self._release(agent_id, answered=False)
            raise ConversationError(f"{target} did not answer")
        self._release(agent_id, answered=True)
        return Party(leg, agent_id=agent_id, number=destination.number)

    def _release(self, agent_id: str | None, *, answered: bool) -> None:
        acd = self.dialling.acd
        agent = acd.agents.get(agent_id) if agent_id else None
        if agent is None or agent.state is not AgentState.RINGING:
            return
        if answered:
            acd.take_answered(agent)
        else:
            acd.ring_cancelled(agent)

    async def hold(self, on: bool) -> bool:
        """Music for the caller; the agents hear nothing of them meanwhile.
        Asking for the state the call is in does nothing (a double click)."""
        ari = self.dialling.ari
        if on == self.on_hold:
            return on
        self._still_on()
        if on:
            await ari.remove_channel(self.bridge_id, self.caller_channel)
            self.on_hold = True  # out of the bridge from here on, whatever follows
            await ari.start_moh(self.caller_channel)
        else:
            with contextlib.suppress(AriError):
                await ari.stop_moh(self.caller_channel)
            await ari.add_channel(self.bridge_id, self.caller_channel)
            self.on_hold = False
        self.trace.step("hold" if on else "unhold")
        return on

    async def supervise(self, mode: str, seat: str) -> str:
        """A supervisor listens, whispers to the agent, or barges into the call."""
        d = self.dialling
        agents = [p for p in self.parties if p.agent_id]
        if not agents:
            raise ConversationError("no agent on this call")
        supervisor = await self._ring(d.seat_endpoint.format(seat=seat), "supervisor", seat)
        if supervisor is None:
            raise ConversationError(f"{seat} did not answer")
        added: list[legs.Leg] = [supervisor]
        side = None
        try:
            self._still_on()
            if mode == "barge":
                await d.ari.add_channel(self.bridge_id, supervisor.id)
            else:
                snoop = await self._snoop(agents[0].leg, whisper=mode == "whisper", added=added)
                side = f"{self.bridge_id}-sup-{uuid.uuid4().hex[:8]}"
                await d.ari.create_bridge(side, "mixing")
                await d.ari.add_channel(side, snoop.id)
                await d.ari.add_channel(side, supervisor.id)
            self._still_on()
        except BaseException as exc:
            await asyncio.shield(self._undo(added, side))
            if isinstance(exc, ChannelGone) and self.caller_gone is not None:
                raise ConversationError("the caller hung up before the supervisor joined") from exc
            if isinstance(exc, AriError | ConversationError):
                raise ConversationError(f"supervision of this call failed: {exc}") from exc
            raise
        self.supervisors.extend(added)
        if side is not None:
            self._side_bridges.append(side)
        self.trace.step("supervision", mode=mode, seat=seat, agent=agents[0].agent_id)
        return supervisor.id

    def _confirm_seconds(self) -> float:
        limit = self.dialling.confirm_seconds
        return legs.STASIS_WAIT_SECONDS if limit is None else limit

    async def _snoop(self, agent: legs.Leg, *, whisper: bool, added: list[legs.Leg]) -> legs.Leg:
        """A snoop on the agent's channel, once it is in Stasis (before that,
        adding it to a bridge fails: "Channel not in Stasis application")."""
        d = self.dialling
        snoop_id = f"snoop-{uuid.uuid4().hex}"
        snoop = legs.Leg(snoop_id, d.open_inbox(f"channel:{snoop_id}"))
        added.append(snoop)
        await d.ari.snoop(
            agent.id,
            snoop.id,
            app=d.app,
            spy="both",
            whisper="out" if whisper else "none",
            app_args="snoop",
        )
        snoop.created = True
        try:
            await legs.confirmed(
                snoop.inbox,
                lambda e: isinstance(e, StasisStart),
                self._confirm_seconds(),
                caller=self.caller_inbox,
            )
        except TimeoutError:
            self.trace.step("snoop_not_confirmed", channel=snoop_id)
            raise ConversationError(
                f"the listening channel did not enter Stasis within {self._confirm_seconds():g} s"
            ) from None
        except ChannelGone as gone:
            if isinstance(gone.event, ChannelEvent) and gone.event.channel.id == snoop_id:
                raise ConversationError("the listening channel ended at once") from gone
            self.caller_gone = gone.event
            raise
        return snoop

    async def _undo(self, added: list[legs.Leg], side: str | None) -> None:
        for leg in added:
            await self._hang_up(leg)
        if side is not None:
            with contextlib.suppress(AriError):
                await self.dialling.ari.delete_bridge(side)

    async def close(self) -> None:
        """Hang up every leg still here; delete side bridges. Commands still
        waiting, and any sent from now on, are refused."""
        self.closed = True
        self.commands.close(ENDED)
        d = self.dialling
        for party in list(self.parties):
            self._drop(party)
            await legs.end(d.ari, party.leg, d.close_inbox)
        for leg in [*self.supervisors, *self._departed]:
            await legs.end(d.ari, leg, d.close_inbox)
        for bridge in self._side_bridges:
            with contextlib.suppress(AriError):
                await d.ari.delete_bridge(bridge)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a late result read (nobody waits for it any more)."""
    if not future.cancelled():
        future.exception()
