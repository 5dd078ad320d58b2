"""The ACD: who waits, who is free, and the one place that pairs them.

Everything here is synchronous and runs on the event loop, so a match
(reserve the agent, hand them to the caller) happens without an await in
between: no caller is offered to two agents and no agent to two callers,
whatever races the events bring. The ringing, talking and recording happen
in the caller's own task (callcenter.calls.queue_call).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callcenter.acd.agents import (
    REQUESTABLE,
    Agent,
    AgentState,
    IllegalAgentTransition,
    UnknownAgent,
)
from callcenter.acd.queues import QueueConfig
from callcenter.acd.roster import Roster
from callcenter.acd.routing import choose
from callcenter.timers import Cancellable, LoopTimers, Timers

log = logging.getLogger(__name__)

StateListener = Callable[[Agent], None]


@dataclass(eq=False)
class Waiting:
    """A caller in a queue; ``offer`` resolves with the agent reserved for them."""

    call_id: uuid.UUID
    caller: str
    queue: str
    priority: int
    skills: tuple[str, ...]
    language: str | None
    enqueued_at: datetime  # kept when re-queued after an unanswered ring: the caller's place
    offer: asyncio.Future[Agent] = field(repr=False)

    def order(self) -> tuple[int, datetime]:
        return (-self.priority, self.enqueued_at)


class AcdService:
    def __init__(
        self,
        roster: Roster,
        queues: dict[str, QueueConfig],
        on_change: StateListener,
        clock: Callable[[], datetime] | None = None,
        timers: Timers | None = None,
    ) -> None:
        self.queues = queues
        self.clock = clock or (lambda: datetime.now(UTC))
        self.timers = timers or LoopTimers()
        self.on_change = on_change  # persists every state change (agent_state_log)
        self.agents: dict[str, Agent] = {}
        self._seats: dict[str, str] = {}
        self._waiting: list[Waiting] = []
        self._last_agent: dict[str, str] = {}  # queue → last agent rung (round-robin)
        self._wrapups: dict[str, Cancellable] = {}
        self._handle_times: dict[str, list[float]] = {}
        self._roster_ids: set[str] = set()
        self.load_roster(roster)

    # Roster and registrations ------------------------------------------------------
    def load_roster(self, roster: Roster) -> None:
        """Apply roster changes; agents removed mid-call finish their call first."""
        self._roster_ids = set(roster.agents)
        for agent_id, config in roster.agents.items():
            agent = self.agents.get(agent_id)
            if agent is None:
                self.agents[agent_id] = Agent(agent_id, config, since=self.clock())
                continue
            if agent.config.seat != config.seat:
                agent.registered = False  # the new seat's softphone has yet to register
            agent.config = config
        for agent_id in [a for a in self.agents if a not in roster.agents]:
            agent = self.agents[agent_id]
            if agent.state not in (AgentState.RINGING, AgentState.ON_CALL):
                self._cancel_wrapup(agent)
                self._retire(agent)
        self._seats = {a.config.seat: a.id for a in self.agents.values()}
        self.dispatch()

    def agent_at_seat(self, seat: str) -> Agent | None:
        agent_id = self._seats.get(seat)
        return self.agents.get(agent_id) if agent_id else None

    def seat_registered(self, seat: str, online: bool) -> None:
        agent = self.agent_at_seat(seat)
        if agent is None or agent.registered == online:
            return
        agent.registered = online
        log.info("agent %s seat %s %s", agent.id, seat, "online" if online else "offline")
        if online:
            self.dispatch()

    # Agent requests (API, feature codes) ----------------------------------------
    def request_state(self, agent_id: str, state: AgentState, reason: str | None = None) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise UnknownAgent(f"no agent {agent_id!r}")
        if state not in REQUESTABLE:
            raise IllegalAgentTransition(f"{state.value} is set by the ACD, not requested")
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL) and state is not agent.state:
            raise IllegalAgentTransition(
                f"agent {agent_id} is {agent.state.value}; change state after the call"
            )
        if state is agent.state and reason == agent.reason:
            return agent  # asked twice (*21 pressed again): keep the agent's place
        self._cancel_wrapup(agent)
        self._set(agent, state, reason)
        self.dispatch()
        return agent

    def _set(self, agent: Agent, state: AgentState, reason: str | None = None) -> None:
        agent.move(state, self.clock(), reason)
        self.on_change(agent)

    # After a restart ---------------------------------------------------------------
    def restore(
        self,
        agent_id: str,
        state: AgentState,
        reason: str | None,
        since: datetime | None,
        call_id: str | None = None,
    ) -> None:
        """The agent's last logged state, taken back as it was (nothing logged:
        it is not a change). Ringing, talking and wrap-up are settled once the
        calls Asterisk still has are known (:meth:`settle_after_restart`)."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return
        agent.state, agent.reason, agent.since = state, reason, since
        agent.call_id = call_id if state in (AgentState.RINGING, AgentState.ON_CALL) else None
        if state is AgentState.AVAILABLE:
            agent.idle_since = since

    def resume_call(self, agent_id: str, call_id: str | None) -> None:
        """The agent is in a conversation a restarted service took over."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.state is AgentState.ON_CALL:
            return
        self._cancel_wrapup(agent)
        if agent.state is not AgentState.RINGING:  # its log lagged behind the call
            agent.state = AgentState.RINGING
        agent.call_id = call_id
        self._set(agent, AgentState.ON_CALL, "resumed")

    def settle_after_restart(self, on_call: set[str]) -> None:
        """Agents whose ring or conversation did not survive the restart: a ring
        is over (available), a conversation goes to its wrap-up, a wrap-up ends."""
        for agent in list(self.agents.values()):
            if agent.id in on_call:
                continue
            if agent.state is AgentState.RINGING:
                self._free(agent, "restart")
            elif agent.state is AgentState.ON_CALL:
                self.call_ended(agent, agent.reason or "", 0.0)
            elif agent.state is AgentState.WRAP_UP and agent.id not in self._wrapups:
                over = functools.partial(self._wrapup_over, agent.id)
                self._wrapups[agent.id] = self.timers.call_later(0, over)
        self.dispatch()

    # Callers -----------------------------------------------------------------------
    def enqueue(self, entry: Waiting) -> None:
        self._waiting.append(entry)
        self._waiting.sort(key=Waiting.order)
        self.dispatch()

    def leave(self, entry: Waiting) -> None:
        """The caller left the queue (hung up, overflowed, asked for a callback)."""
        if entry in self._waiting:
            self._waiting.remove(entry)
        if entry.offer.done() and not entry.offer.cancelled():
            agent = entry.offer.result()  # reserved but not yet rung: free them
            if agent.call_id == str(entry.call_id):
                self.ring_cancelled(agent)
        elif not entry.offer.done():
            entry.offer.cancel()

    def position(self, entry: Waiting) -> int:
        """1 for the next caller to be served in that queue."""
        same = [w for w in self._waiting if w.queue == entry.queue]
        return same.index(entry) + 1 if entry in same else 0

    def estimated_wait_seconds(self, entry: Waiting) -> float:
        times = self._handle_times.get(entry.queue) or [180.0]
        average = sum(times) / len(times)
        serving = (
            sum(
                1
                for a in self.agents.values()
                if entry.queue in a.config.skills
                and a.state is not AgentState.LOGGED_OUT
                and a.registered
            )
            or 1
        )
        return self.position(entry) * average / serving

    def staffed(self, queue: str) -> bool:
        """Is anyone logged in (and registered) to serve ``queue``?"""
        return any(
            queue in a.config.skills and a.registered and a.state is not AgentState.LOGGED_OUT
            for a in self.agents.values()
        )

    def waiting(self, queue: str | None = None) -> list[Waiting]:
        return [w for w in self._waiting if queue is None or w.queue == queue]

    # Ring outcomes (from the caller's task) -------------------------------------------
    def answered(self, agent: Agent, entry: Waiting) -> None:
        if agent.call_id != str(entry.call_id):
            raise IllegalAgentTransition(f"agent {agent.id} was not reserved for this caller")
        self.take_answered(agent)

    def take(self, agent: Agent, queue: str, call_id: str) -> None:
        """Reserve a free agent for a transfer or conference (not from a queue)."""
        if not agent.can_take_calls():
            raise IllegalAgentTransition(f"agent {agent.id} is {agent.state.value}")
        agent.call_id = call_id
        self._set(agent, AgentState.RINGING, queue)

    def take_answered(self, agent: Agent) -> None:
        self._set(agent, AgentState.ON_CALL)
        agent.calls_answered += 1

    def not_answered(self, agent: Agent, entry: Waiting, reason: str) -> None:
        """The seat did not answer: pause the agent and put the caller back in their place."""
        if agent.state is AgentState.RINGING:
            self._set(agent, AgentState.PAUSED, reason)
        entry.offer = asyncio.get_running_loop().create_future()
        self.enqueue(entry)

    def ring_cancelled(self, agent: Agent) -> None:
        """The caller hung up while the seat rang: the agent is free again."""
        if agent.state is AgentState.RINGING:
            self._free(agent, "caller left")

    def call_ended(self, agent: Agent, queue: str, talk_seconds: float) -> None:
        """After the conversation: wrap-up for the queue's seconds, then free."""
        self._handle_times.setdefault(queue, []).append(talk_seconds)
        self._handle_times[queue] = self._handle_times[queue][-50:]
        if agent.state is not AgentState.ON_CALL:
            return
        self._set(agent, AgentState.WRAP_UP, queue)
        seconds = self.queues[queue].wrapup_seconds if queue in self.queues else 0
        self._wrapups[agent.id] = self.timers.call_later(
            seconds, lambda: self._wrapup_over(agent.id)
        )

    def _wrapup_over(self, agent_id: str) -> None:
        self._wrapups.pop(agent_id, None)
        agent = self.agents.get(agent_id)
        if agent is not None and agent.state is AgentState.WRAP_UP:
            self._free(agent)

    def _free(self, agent: Agent, reason: str | None = None) -> None:
        """Back to available, unless the roster no longer has the agent."""
        if agent.id in self._roster_ids:
            self._set(agent, AgentState.AVAILABLE, reason)
            self.dispatch()
        else:
            self._retire(agent)

    def _retire(self, agent: Agent) -> None:
        if agent.state is not AgentState.LOGGED_OUT:
            self._set(agent, AgentState.LOGGED_OUT, "removed from roster")
        self.agents.pop(agent.id, None)
        self._seats = {a.config.seat: a.id for a in self.agents.values()}

    def _cancel_wrapup(self, agent: Agent) -> None:
        handle = self._wrapups.pop(agent.id, None)
        if handle is not None:
            handle.cancel()

    def close(self) -> None:
        for handle in self._wrapups.values():
            handle.cancel()
        self._wrapups.clear()

    # The matcher ---------------------------------------------------------------------
    def dispatch(self) -> None:
        """Pair waiting callers with free agents, best caller first."""
        agents = list(self.agents.values())
        for entry in list(self._waiting):
            if entry.offer.done():  # cancelled: the caller is leaving
                self._waiting.remove(entry)
                continue
            queue = self.queues.get(entry.queue)
            strategy = queue.strategy if queue else "longest-idle"
            agent = choose(
                strategy,
                agents,
                entry.queue,
                entry.skills,
                entry.language,
                self._last_agent.get(entry.queue),
            )
            if agent is None:
                continue
            self._waiting.remove(entry)
            agent.call_id = str(entry.call_id)  # before _set: the state log names the call
            self._set(agent, AgentState.RINGING, entry.queue)
            self._last_agent[entry.queue] = agent.id
            entry.offer.set_result(agent)
