"""Builders shared by the ACD unit tests: agents, a settable clock, a service harness."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from callcenter.acd.agents import Agent, AgentState
from callcenter.acd.queues import QueueConfig
from callcenter.acd.roster import AgentConfig, Roster
from callcenter.acd.service import AcdService, Waiting
from callcenter.timers import Cancellable

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def config(
    agent_id: str = "1001",
    skills: Mapping[str, int] | None = None,
    languages: Iterable[str] = ("zh",),
    seat: str | None = None,
    name: str | None = None,
) -> AgentConfig:
    return AgentConfig(
        name=name or f"Agent {agent_id}",
        seat=seat or f"seat-{agent_id.lower()}",
        skills=dict({"general": 5} if skills is None else skills),
        languages=list(languages),
    )


def agent(
    agent_id: str = "1001",
    *,
    skills: Mapping[str, int] | None = None,
    languages: Iterable[str] = ("zh",),
    state: AgentState = AgentState.AVAILABLE,
    idle_since: datetime | None = T0,
    registered: bool = True,
    calls_answered: int = 0,
) -> Agent:
    return Agent(
        agent_id,
        config(agent_id, skills, languages),
        state=state,
        idle_since=idle_since,
        registered=registered,
        calls_answered=calls_answered,
    )


def roster(configs: Mapping[str, AgentConfig]) -> Roster:
    return Roster(agents=dict(configs))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass(eq=False)
class _Timer:
    when: float
    callback: Callable[[], None]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualTimers:
    """Timers that fire when the test moves them on (a zero delay: on the next
    loop turn, as the loop's own would), so nobody sleeps through a wrap-up."""

    def __init__(self) -> None:
        self.now = 0.0
        self._pending: list[_Timer] = []

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        if delay <= 0:
            return asyncio.get_running_loop().call_soon(callback)
        timer = _Timer(self.now + delay, callback)
        self._pending.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move on ``seconds``; run what falls due, in order."""
        self.now += seconds
        for timer in sorted(self._pending, key=lambda t: t.when):
            if timer.when <= self.now:
                self._pending.remove(timer)
                if not timer.cancelled:
                    timer.callback()


async def settle(rounds: int = 5) -> None:
    """Let call_later(0, ...) timers (a zero-second wrap-up) run."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class Harness:
    """An AcdService with a hand clock and a record of every on_change call."""

    def __init__(
        self,
        configs: Mapping[str, AgentConfig],
        queues: Mapping[str, QueueConfig] | None = None,
    ) -> None:
        self.clock = Clock()
        self.timers = ManualTimers()
        self.changes: list[tuple[str, AgentState, str | None]] = []
        self.acd = AcdService(
            roster(configs),
            dict(queues) if queues is not None else {"general": QueueConfig(wrapup_seconds=0)},
            self._changed,
            self.clock,
            self.timers,
        )

    def _changed(self, a: Agent) -> None:
        self.changes.append((a.id, a.state, a.reason))

    def __getitem__(self, agent_id: str) -> Agent:
        return self.acd.agents[agent_id]

    def login(self, *agent_ids: str) -> None:
        """Register each seat and make the agent available, one clock second apart."""
        for agent_id in agent_ids:
            self.acd.seat_registered(self[agent_id].config.seat, True)
            self.acd.request_state(agent_id, AgentState.AVAILABLE)
            self.clock.advance()

    def caller(
        self,
        queue: str = "general",
        *,
        priority: int = 0,
        skills: Iterable[str] = (),
        language: str | None = None,
        caller: str = "13800000000",
        at: datetime | None = None,
    ) -> Waiting:
        """A new Waiting entry (not yet enqueued); the clock moves on one second."""
        entry = Waiting(
            call_id=uuid.uuid4(),
            caller=caller,
            queue=queue,
            priority=priority,
            skills=tuple(skills),
            language=language,
            enqueued_at=at or self.clock(),
            offer=asyncio.get_running_loop().create_future(),
        )
        self.clock.advance()
        return entry

    def enqueue(self, *args, **kwargs) -> Waiting:
        entry = self.caller(*args, **kwargs)
        self.acd.enqueue(entry)
        return entry

    def states(self) -> dict[str, AgentState]:
        return {i: a.state for i, a in self.acd.agents.items()}
