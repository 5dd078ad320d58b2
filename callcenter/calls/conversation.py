"""A caller talking in a recorded mixing bridge with agents and departments.

The caller's task owns the conversation and waits in :meth:`Conversation.wait`
until the caller hangs up or nobody is left to talk to. Other tasks (the
API's handlers) add parties (三方连线), transfer (blind: the transferring
agent drops out), put the caller on hold, or bring a supervisor in, all
through the conversation object, which keeps the list of legs it must hang
up at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.acd.agents import AgentState
from callcenter.acd.service import AcdService
from callcenter.ari import AriClient, AriError, Inbox
from callcenter.ari.events import ChannelTransfer, Event
from callcenter.calls import legs
from callcenter.calls.destinations import Destinations
from callcenter.directory import Destination, DestinationRefused
from callcenter.errors import CallCenterError
from callcenter.ivr.port import Trace

log = logging.getLogger(__name__)


class ConversationError(CallCenterError):
    title = "Call control refused"


class NoSuchConversation(ConversationError):
    title = "No conversation for this call"


@dataclass(frozen=True, slots=True)
class Dialling:
    """What the conversation needs to place legs."""

    ari: AriClient
    open_inbox: Callable[[str], Inbox]
    close_inbox: Callable[[Inbox], None]
    app: str
    dial_out: str  # PJSIP/{number}@dialout-trunk
    seat_endpoint: str  # PJSIP/{seat}
    ring_timeout: int
    acd: AcdService
    destinations: Destinations  # the directory and the seats: where calls may go


@dataclass(eq=False)
class Party:
    leg: legs.Leg
    agent_id: str | None = None  # None: a department number
    number: str | None = None


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
    _side_bridges: list[str] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    # Agents whose part ended (for wrap-up), with the seconds they talked.
    finished_agents: list[str] = field(default_factory=list)

    @property
    def agents(self) -> list[str]:
        return [p.agent_id for p in self.parties if p.agent_id]

    # The caller's task ---------------------------------------------------------------
    async def wait(self) -> Event | None:
        """Until the caller leaves (their event) or every other party has (None)."""
        caller_left = asyncio.create_task(legs.terminal(self.caller_inbox))
        try:
            while True:
                if not self.parties:
                    return None
                watchers = {asyncio.create_task(self._watch(p)): p for p in self.parties}
                changed = asyncio.create_task(self._changed.wait())
                done, _ = await asyncio.wait(
                    {caller_left, changed, *watchers}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in [changed, *watchers]:
                    task.cancel()
                await asyncio.gather(changed, *watchers, return_exceptions=True)
                self._changed.clear()
                if caller_left in done:
                    return caller_left.result()
                for task, party in watchers.items():
                    if task not in done or task.cancelled():
                        continue
                    if task.exception() is not None:  # a broken leg is a gone leg
                        log.error("watching %s failed", party.leg.id, exc_info=task.exception())
                        self._drop(party)
                        continue
                    await self._on_party_event(party, task.result())
        finally:
            caller_left.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await caller_left

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
            except ConversationError as exc:
                self.trace.step("transfer_failed", to=target, reason=str(exc))
                await self._progress(party, "channel_unavailable")
            return
        self._drop(party)
        self.trace.step("party_left", agent=party.agent_id, number=party.number)

    def _drop(self, party: Party) -> None:
        if party in self.parties:
            self.parties.remove(party)
            if party.agent_id:
                self.finished_agents.append(party.agent_id)
        self._changed.set()

    # Call control (API handlers, softphone transfers) -----------------------------
    async def transfer(
        self, destination: Destination, *, blind: bool, by: Party | None = None
    ) -> None:
        """Bring ``destination`` in: an agent's seat, or a department's number on the
        dial-out trunk. Blind: the transferring agents leave once it answers."""
        target = destination.number or destination.key  # as the call's record keeps it
        party = await self._dial(destination)
        try:
            self._still_on()
            await self.dialling.ari.add_channel(self.bridge_id, party.leg.id)
        except (AriError, ConversationError) as exc:  # the caller left meanwhile
            await legs.end(self.dialling.ari, party.leg, self.dialling.close_inbox)
            self._release(party.agent_id, answered=False)
            raise ConversationError(f"{target}: the call ended meanwhile") from exc
        leaving = [p for p in self.parties if p.agent_id] if blind else []
        if by is not None and blind and by not in leaving:
            leaving.append(by)
        self.parties.append(party)
        self.transferred_to = target
        self.trace.step(
            "transferred" if blind else "conference_added", to=target, destination=destination.key
        )
        if by is not None:  # tell the transferring phone before it is hung up
            await self._progress(by, "channel_answered")
        for old in leaving:
            self._drop(old)
            await legs.end(self.dialling.ari, old.leg, self.dialling.close_inbox)
        self._changed.set()

    def _still_on(self) -> None:
        if self.closed:
            raise ConversationError("the call ended meanwhile")

    async def _progress(self, party: Party, state: str) -> None:
        with contextlib.suppress(AriError):
            await self.dialling.ari.transfer_progress(party.leg.id, state)

    async def _dial(self, destination: Destination) -> Party:
        d = self.dialling
        target, agent_id = destination.key, destination.agent_id
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
            leg = await legs.dial(
                d.ari,
                d.open_inbox,
                d.close_inbox,
                endpoint=endpoint,
                app=d.app,
                purpose=purpose,
                originator=self.caller_channel,
                timeout=d.ring_timeout,
            )
            answered = await legs.until_answered(None, leg, d.ring_timeout + 5)
        except AriError as exc:
            self._release(agent_id, answered=False)
            raise ConversationError(f"{target}: {exc}") from exc
        if not answered:
            await legs.end(d.ari, leg, d.close_inbox)
            self._release(agent_id, answered=False)
            raise ConversationError(f"{target} did not answer ({leg.failure})")
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

    async def hold(self, on: bool) -> None:
        """Music for the caller; the agents hear nothing of them meanwhile."""
        ari = self.dialling.ari
        if on == self.on_hold:
            return
        if on:
            await ari.remove_channel(self.bridge_id, self.caller_channel)
            await ari.start_moh(self.caller_channel)
        else:
            with contextlib.suppress(AriError):
                await ari.stop_moh(self.caller_channel)
            await ari.add_channel(self.bridge_id, self.caller_channel)
        self.on_hold = on
        self.trace.step("hold" if on else "unhold")

    async def supervise(self, mode: str, seat: str) -> str:
        """A supervisor listens, whispers to the agent, or barges into the call."""
        d = self.dialling
        agents = [p for p in self.parties if p.agent_id]
        if not agents:
            raise ConversationError("no agent on this call")
        supervisor = await legs.dial(
            d.ari,
            d.open_inbox,
            d.close_inbox,
            endpoint=d.seat_endpoint.format(seat=seat),
            app=d.app,
            purpose="supervisor",
            originator=self.caller_channel,
            timeout=d.ring_timeout,
        )
        if not await legs.until_answered(None, supervisor, d.ring_timeout + 5):
            await legs.end(d.ari, supervisor, d.close_inbox)
            raise ConversationError(f"{seat} did not answer")
        added: list[legs.Leg] = [supervisor]
        side = None
        try:
            self._still_on()
            if mode == "barge":
                await d.ari.add_channel(self.bridge_id, supervisor.id)
            else:
                snoop_id = f"snoop-{uuid.uuid4().hex}"
                snoop = legs.Leg(snoop_id, d.open_inbox(f"channel:{snoop_id}"))
                added.append(snoop)
                await d.ari.snoop(
                    agents[0].leg.id,
                    snoop.id,
                    app=d.app,
                    spy="both",
                    whisper="out" if mode == "whisper" else "none",
                    app_args="snoop",
                )
                snoop.created = True
                side = f"{self.bridge_id}-sup-{uuid.uuid4().hex[:8]}"
                await d.ari.create_bridge(side, "mixing")
                await d.ari.add_channel(side, snoop.id)
                await d.ari.add_channel(side, supervisor.id)
            self._still_on()  # close() may have run during the awaits above
        except (AriError, ConversationError) as exc:
            for leg in added:
                await legs.end(d.ari, leg, d.close_inbox)
            if side is not None:
                with contextlib.suppress(AriError):
                    await d.ari.delete_bridge(side)
            raise ConversationError(f"supervision of this call failed: {exc}") from exc
        self.supervisors.extend(added)
        if side is not None:
            self._side_bridges.append(side)
        self.trace.step("supervision", mode=mode, seat=seat, agent=agents[0].agent_id)
        return supervisor.id

    async def close(self) -> None:
        """Hang up every leg still here; delete side bridges."""
        self.closed = True
        d = self.dialling
        for party in list(self.parties):
            self._drop(party)
            await legs.end(d.ari, party.leg, d.close_inbox)
        for leg in self.supervisors:
            await legs.end(d.ari, leg, d.close_inbox)
        for bridge in self._side_bridges:
            with contextlib.suppress(AriError):
                await d.ari.delete_bridge(bridge)
