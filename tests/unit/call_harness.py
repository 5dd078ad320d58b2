"""A whole call centre in memory for unit tests of calls/: the real CallService,
CallSession, AriCallPort, interpreter and ACD over the fake Asterisk
(tests/unit/fake_ari.py) and an in-memory record writer. Only the database and
Asterisk are fakes; flows are real YAML, checked by the real validator."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from callcenter.acd.queues import QueueConfig
from callcenter.acd.roster import AgentConfig, Roster
from callcenter.acd.service import AcdService
from callcenter.ari import EventRouter
from callcenter.calls.acd_store import AcdStore
from callcenter.calls.ari_port import DialOut
from callcenter.calls.destinations import Destinations
from callcenter.calls.ivr_sink import DbIvrSink
from callcenter.calls.metrics import CallMetrics
from callcenter.calls.queue_call import QueueDeps
from callcenter.calls.record_ops import CloseCall, CloseLost, Op, OpenCall
from callcenter.calls.recorder import CallRecorder
from callcenter.calls.service import CallService
from callcenter.calls.session import CallDeps
from callcenter.config import CallsConfig, LookupLimits
from callcenter.db.models import Disposition
from callcenter.directory import Directory
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.registry import IvrPaths, IvrRegistry
from tests.unit.fake_ari import FakeAri, Request

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ROOT / "ivr_flows" / "prompts"

# The IVR of a plain call: welcome, a menu the caller answers with 1, goodbye, hang up.
IVR_FLOW = """\
numbers: ["12345"]
language: zh
start: welcome
nodes:
  welcome:
    type: play
    prompts: [welcome]
    next: menu
  menu:
    type: menu
    prompts: [main_menu]
    choices: {"1": goodbye, "2": goodbye, "9": goodbye, "0": menu}
    timeout: 5
    max_retries: 1
    on_fail: goodbye
  goodbye:
    type: play
    prompts: [goodbye]
    interruptible: false
    next: bye
  bye:
    type: hangup
"""


class Records(CallRecorder):
    """The call record writer, in memory: every operation, and each close."""

    def __init__(self) -> None:  # no engine: nothing is written
        self.ops: list[Op] = []
        self.rows: list[tuple[Any, dict[str, Any]]] = []
        self.closes: list[CloseCall] = []
        self.lost: list[CloseLost] = []
        self.closed = asyncio.Event()

    def submit(self, op: Op) -> None:
        self.ops.append(op)

    def insert(self, table: Any, values: dict[str, Any]) -> None:
        self.rows.append((table, values))

    async def close_call(self, op: CloseCall) -> None:
        self.closes.append(op)
        self.closed.set()

    def close_lost(self, live_channels: set[str], ended_at: datetime) -> asyncio.Future[int]:
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.lost.append(CloseLost(frozenset(live_channels), ended_at, done))
        done.set_result(0)
        return done

    def opened(self) -> list[OpenCall]:
        return [op for op in self.ops if isinstance(op, OpenCall)]

    def dispositions(self) -> list[Disposition]:
        return [c.disposition for c in self.closes]


def ivr_registry(flows_dir: Path, flow: str = IVR_FLOW) -> IvrRegistry:
    flows_dir.mkdir(parents=True, exist_ok=True)
    (flows_dir / "12345.yaml").write_text(flow, encoding="utf-8")
    return IvrRegistry(
        IvrPaths(
            flows_dir=flows_dir,
            prompts_dir=PROMPTS,
            calendar=ROOT / "config" / "calendar.yaml",
            queues=ROOT / "config" / "queues.yaml",
            lookup_fixture=ROOT / "config" / "lookup_fixture.yaml",
        )
    )


class Centre:
    """CallService + fake Asterisk + in-memory records, with a scripted caller
    who presses 1 at the main menu."""

    def __init__(
        self,
        ivr: IvrRegistry,
        *,
        max_calls: int = 2000,
        presses: str | None = "1",
        config: CallsConfig | None = None,
        agents: Mapping[str, AgentConfig] | None = None,
    ) -> None:
        self.router = EventRouter()
        self.ari = FakeAri(self.router)
        self.records = Records()
        self.registry = CollectorRegistry()
        self.acd = AcdService(
            Roster(agents=dict(agents or {})),
            {"general": QueueConfig(wrapup_seconds=0)},
            lambda _agent: None,
        )
        destinations = Destinations(lambda: Directory([]), lambda: self.acd.agents, self.registry)
        prompts = PromptLibrary(PROMPTS)
        self.deps = CallDeps(
            ari=self.ari,
            recorder=self.records,
            config=config or CallsConfig(),
            metrics=CallMetrics.create(self.registry),
            router=self.router,
            ivr=ivr,
            prompts=prompts,
            sink=DbIvrSink(self.ari, self.records),
            dial_out=DialOut("PJSIP/{number}@dialout-trunk", "hotline", destinations),
            queues=QueueDeps(
                acd=self.acd,
                store=AcdStore(self.records),
                prompts=prompts,
                seat_endpoint="PJSIP/{seat}",
                dial_out="PJSIP/{number}@dialout-trunk",
                destinations=destinations,
                conversations={},
                app="hotline",
                bridge_prefix="hotline-",
                clock=lambda: datetime.now(UTC),
            ),
            lookup_guard=LookupLimits().guard(),
        )
        self.service = CallService(self.deps, self.router, app="hotline", max_calls=max_calls)
        if presses is not None:
            self.ari.after_request(self._caller_answers_the_menu(presses))

    def _caller_answers_the_menu(self, digits: str) -> Any:
        def hook(_n: int, request: Request) -> None:
            if request[0] == "play" and "main_menu" in str(request[3]):
                if request[1] in self.ari.channels:
                    self.ari.press(request[1], digits)

        return hook

    async def call(self, channel_id: str = "caller-1") -> None:
        """A caller arrives; returns once every call the service holds has ended."""
        self.ari.arrive(channel_id)
        await self.finished()

    async def finished(self, limit: float = 5.0) -> None:
        """Until the service holds no call (bounded: a hung call fails the test)."""
        async with asyncio.timeout(limit):
            await self.service._all_done.wait()

    def ours_left(self) -> tuple[set[str], set[str]]:
        """Channels and bridges still in Asterisk."""
        return set(self.ari.channels), set(self.ari.bridges)

    def calls_ended(self, disposition: str) -> float | None:
        return self.registry.get_sample_value(
            "hotline_calls_ended_total", {"disposition": disposition}
        )


def kinds(requests: Iterable[Request]) -> list[str]:
    return [r[0] for r in requests]


async def until(condition: Callable[[], bool], turns: int = 10_000) -> None:
    """Let the calls' tasks run (loop turns, no clock) until ``condition`` holds."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the calls never got there")
