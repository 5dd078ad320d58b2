"""Prometheus metrics of the call layer, on the app's own registry (no globals).

Counters move where things happen (a call starts, ends, is refused). What is
*now* (calls by stage, who waits in which queue and for how long, agents by
state) is read from the live objects at scrape time by :class:`LiveCollector`:
nothing is updated per event, and nothing can drift from the truth. Label
values are fixed sets (stages, queue names from queues.yaml, agent states),
never call ids: a burst of calls leaves no series behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callcenter.acd.agents import AgentState
from callcenter.calls.state import CallState

# Where a call is, coarsely: what operators watch during a rush.
STAGES = ("arriving", "ivr", "queue", "ringing", "talking", "ending", "overload")
REFUSALS = ("busy_prompt", "rejected")


@dataclass(frozen=True, slots=True)
class CallMetrics:
    registry: CollectorRegistry
    calls_started: Counter
    calls_ended: Counter
    calls_active: Gauge
    call_duration: Histogram
    overload_refused: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> CallMetrics:
        refused = Counter(
            "hotline_overload_refused",
            "Calls refused past calls.max_calls: how=busy_prompt (answered, the busy "
            "prompt, hung up) or rejected (unanswered, SIP 503: prompt slots full or "
            "the service far behind)",
            ["how"],
            registry=registry,
        )
        for how in REFUSALS:
            refused.labels(how)  # both series exist from the start, at 0
        return cls(
            registry=registry,
            calls_started=Counter(
                "hotline_calls_started", "Channels that entered Stasis", registry=registry
            ),
            calls_ended=Counter(
                "hotline_calls_ended",
                "Calls whose record was closed",
                ["disposition"],
                registry=registry,
            ),
            calls_active=Gauge(
                "hotline_calls_active", "Calls being handled now", registry=registry
            ),
            call_duration=Histogram(
                "hotline_call_duration_seconds",
                "From entering Stasis to the record closing",
                buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
                registry=registry,
            ),
            overload_refused=refused,
        )


# -- what is now, read at scrape time ---------------------------------------------


class LiveCall(Protocol):
    """What the collector reads of a call (CallSession has it)."""

    @property
    def call_id(self) -> object: ...

    @property
    def state(self) -> CallState: ...


class WaitingCaller(Protocol):
    @property
    def call_id(self) -> object: ...

    @property
    def queue(self) -> str: ...

    @property
    def enqueued_at(self) -> datetime: ...


class LiveAgent(Protocol):
    @property
    def state(self) -> AgentState: ...

    @property
    def call_id(self) -> str | None: ...


class LiveAcd(Protocol):
    @property
    def queues(self) -> Mapping[str, object]: ...

    @property
    def agents(self) -> Mapping[str, LiveAgent]: ...

    def waiting(self, queue: str | None = None) -> Iterable[WaitingCaller]: ...


def stage_of(call: LiveCall, waiting: set[str], agents: dict[str, AgentState]) -> str:
    cid = str(call.call_id)
    if call.state in (CallState.HANGING_UP, CallState.ENDED):
        return "ending"
    if cid in waiting:
        return "queue"
    agent_state = agents.get(cid)
    if agent_state is AgentState.RINGING:
        return "ringing"
    if agent_state is AgentState.ON_CALL:
        return "talking"
    if call.state is CallState.NEW:
        return "arriving"
    return "ivr"


class LiveCollector(Collector):
    """Calls by stage, queues' waiting callers and longest wait, agents by state."""

    def __init__(
        self,
        calls: Callable[[], Iterable[LiveCall]],
        acd: Callable[[], LiveAcd],
        refusing: Callable[[], int],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.calls = calls
        self.acd = acd
        self.refusing = refusing
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        acd = self.acd()
        now = self.clock()
        waiting = list(acd.waiting())
        on_agents = {a.call_id: a.state for a in acd.agents.values() if a.call_id is not None}
        waiting_ids = {str(w.call_id) for w in waiting}

        stages = dict.fromkeys(STAGES, 0)
        for call in self.calls():
            stages[stage_of(call, waiting_ids, on_agents)] += 1
        stages["overload"] = self.refusing()
        by_stage = GaugeMetricFamily(
            "hotline_calls_by_stage",
            "Calls now, by stage (overload: refused callers still hearing the busy prompt)",
            labels=["stage"],
        )
        for stage, n in stages.items():
            by_stage.add_metric([stage], n)
        yield by_stage

        count = dict.fromkeys(acd.queues, 0)
        longest = dict.fromkeys(acd.queues, 0.0)
        for w in waiting:
            count[w.queue] = count.get(w.queue, 0) + 1
            waited = max(0.0, (now - w.enqueued_at).total_seconds())
            longest[w.queue] = max(longest.get(w.queue, 0.0), waited)
        in_queue = GaugeMetricFamily(
            "hotline_queue_waiting", "Callers waiting in the queue now", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "hotline_queue_longest_wait_seconds",
            "How long the queue's longest-waiting caller has waited (0: nobody waits)",
            labels=["queue"],
        )
        for queue in sorted(count):
            in_queue.add_metric([queue], count[queue])
            oldest.add_metric([queue], longest[queue])
        yield in_queue
        yield oldest

        states = dict.fromkeys((s.value for s in AgentState), 0)
        for agent in acd.agents.values():
            states[agent.state.value] += 1
        agents = GaugeMetricFamily("hotline_agents", "Agents now, by state", labels=["state"])
        for state, n in states.items():
            agents.add_metric([state], n)
        yield agents


# -- event-loop lag ----------------------------------------------------------------


class LoopLag:
    """How late the event loop runs: a timer due every ``interval`` seconds,
    and how late it fired. Every call, HTTP request and database write shares
    this loop, so lateness here is lateness everywhere. The overload guard
    reads :meth:`smoothed` (a moving average: seconds of lateness, not one
    collector pause) to refuse new calls while the service is far behind."""

    SMOOTHING = 0.2  # weight of each new measurement (time constant ~5 intervals)

    def __init__(self, registry: CollectorRegistry, interval: float = 0.25) -> None:
        self.interval = interval
        self.late = Histogram(
            "hotline_event_loop_lag_seconds",
            f"How late a timer due every {interval} s fired on the event loop",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        Gauge(
            "hotline_event_loop_lag_now_seconds",
            "How late the event loop runs now",
            registry=registry,
        ).set_function(self.now)
        Gauge(
            "hotline_event_loop_lag_smoothed_seconds",
            "How late the event loop ran of late, a moving average (the overload guard's reading)",
            registry=registry,
        ).set_function(self.smoothed)
        self._due: float | None = None
        self._last = 0.0
        self._smoothed = 0.0
        self.measured = asyncio.Event()  # set at each measurement (for whoever waits on one)

    def now(self) -> float:
        """The last lateness measured, or more if the timer is overdue right now."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # read from outside the loop (a test's scrape)
            return self._last
        if self._due is None:
            return self._last
        return max(self._last, loop.time() - self._due)

    def smoothed(self) -> float:
        """Lateness averaged over the last few measurements."""
        return self._smoothed

    def note(self, late: float) -> None:
        """One measurement (``run`` makes them; tests may too)."""
        self._last = late
        self._smoothed += self.SMOOTHING * (late - self._smoothed)
        self.late.observe(late)
        self.measured.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._due = loop.time() + self.interval
                await asyncio.sleep(self.interval)
                self.note(max(0.0, loop.time() - self._due))
        finally:
            self._due = None


# -- the call record writer --------------------------------------------------------


class Observer(Protocol):
    def observe(self, amount: float) -> None: ...


class RecordWriter(Protocol):
    """What the metrics read of the record writer (calls/recorder.CallRecorder)."""

    write_seconds: Observer | None

    def backlog(self) -> int: ...
    def spooled(self) -> int: ...


def watch_record_writer(registry: CollectorRegistry, writer: RecordWriter) -> None:
    """Database-write latency (one observation a batch: a slow database shows
    here before the backlog grows) and what waits: in memory, and on disk."""
    writer.write_seconds = Histogram(
        "hotline_record_write_seconds",
        "Time to write one batch of call records (one statement, one round trip)",
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        registry=registry,
    )
    Gauge(
        "hotline_record_spooled",
        "Call record operations kept in the spool file, owed to the database",
        registry=registry,
    ).set_function(writer.spooled)
