"""``callcenter ivr simulate``: a flow on typed keys, without Asterisk.

The same Interpreter as live calls runs on a port that "plays" prompts by
printing their text and "hears" the key groups given on the command line:
each comma-separated group answers the next menu or collect; an empty group,
or none left, is a caller who presses nothing.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callcenter.config import LookupLimits
from callcenter.ivr.interpreter import Interpreter, IvrServices, Outcome
from callcenter.ivr.port import CallInfo, QueueResult, RecordedMessage, TransferResult
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.registry import IvrRuntime
from callcenter.ratelimit import Guard

Printer = Callable[[str], None]


@dataclass
class SimulatedPort:
    prompts: PromptLibrary
    groups: deque[str]
    out: Printer
    transfer_result: TransferResult = TransferResult.CONNECTED
    queue_result: QueueResult = QueueResult.OVERFLOW
    heard: list[str] = field(default_factory=list)

    async def play(self, media: list[str], lang: str, interruptible: bool) -> None:
        for uri in media:
            root = f"sound:{self.prompts.media_root}/{lang}/"
            name = uri[len(root) :] if uri.startswith(root) else uri
            self.heard.append(name)
            self.out(f"     ♪ [{lang}] {name}: {self.prompts.text(name, lang)}")

    async def read_digits(
        self, max_digits: int, first_timeout: float, inter_timeout: float, terminator: str | None
    ) -> str:
        if not self.groups:
            self.out(f"     ⌨ (no key within {first_timeout:g} s)")
            return ""
        group = self.groups.popleft()
        if terminator is not None and terminator in group:
            group = group[: group.index(terminator)]
        keys, rest = group[:max_digits], group[max_digits:]
        if rest:
            self.groups.appendleft(rest)  # typed ahead: the next read gets them
        self.out(f"     ⌨ {keys}" if keys else f"     ⌨ (no key within {first_timeout:g} s)")
        return keys

    async def record(
        self, name: str, max_seconds: int, beep: bool, terminator: str | None
    ) -> RecordedMessage | None:
        self.out(f"     ● recording {name} (up to {max_seconds} s)")
        return RecordedMessage(name, "wav", None, caller_hung_up=False)

    async def transfer(self, number: str, timeout: int) -> TransferResult:
        self.out(f"     ☎ transfer to {number}: {self.transfer_result.value}")
        return self.transfer_result

    async def queue(
        self, queue: str, priority: int, skills: list[str], language: str
    ) -> QueueResult:
        self.out(f"     ☎ queue {queue}: {self.queue_result.value}")
        return self.queue_result


@dataclass
class SimulatedTrace:
    out: Printer
    path: list[tuple[str, str]] = field(default_factory=list)

    def node(self, flow: str, node: str, node_type: str) -> None:
        self.path.append((flow, node))
        self.out(f"→ {flow}/{node} ({node_type})")

    def step(self, kind: str, **detail: Any) -> None:
        shown = ", ".join(f"{k}={v}" for k, v in detail.items() if k != "node")
        self.out(f"     · {kind}" + (f": {shown}" if shown else ""))


class PrintingSink:
    def __init__(self, out: Printer) -> None:
        self.out = out

    async def queue_requested(
        self, call: CallInfo, queue: str, priority: int, skills: list[str], flow: str, node: str
    ) -> None:
        self.out(f"     ⇢ queue {queue} (priority {priority}, skills {skills or '-'})")

    async def voicemail_left(
        self, call: CallInfo, message: RecordedMessage, flow: str, node: str
    ) -> None:
        self.out(f"     ✉ voicemail {message.name} stored")

    async def survey_answered(self, call: CallInfo, score: int, flow: str, node: str) -> None:
        self.out(f"     ★ survey score {score}")


@dataclass(frozen=True, slots=True)
class SimulationResult:
    outcome: Outcome
    path: list[tuple[str, str]]
    heard: list[str]


async def simulate(
    runtime: IvrRuntime,
    flow: str,
    digits: str,
    *,
    at: datetime,
    caller: str,
    prompts: PromptLibrary,
    out: Printer,
    transfer_result: TransferResult = TransferResult.CONNECTED,
    queue_result: QueueResult = QueueResult.OVERFLOW,
    guard: Guard | None = None,
) -> SimulationResult:
    """One simulated call; ``guard`` counts its lookups (default: a fresh one with
    the shipped limits, so one call's tries are shown locking as they would)."""
    groups = deque(g.strip() for g in digits.split(",")) if digits else deque()
    port = SimulatedPort(prompts, groups, out, transfer_result, queue_result)
    trace = SimulatedTrace(out)
    services = IvrServices(
        prompts=prompts,
        calendar=runtime.calendar,
        lookup=runtime.lookup,
        sink=PrintingSink(out),
        clock=lambda: at,
        guard=guard if guard is not None else LookupLimits().guard(),
    )
    number = runtime.flows.flows[flow].numbers[0] if runtime.flows.flows[flow].numbers else ""
    call = CallInfo(uuid.UUID(int=0), caller, number)
    out(
        f"flow {flow} (version {runtime.version}), caller {caller}, "
        f"at {runtime.calendar.local(at):%Y-%m-%d %H:%M %Z}"
    )
    outcome = await Interpreter(runtime.flows, flow, port, services, call, trace).run()
    out(f"= {outcome.value}")
    return SimulationResult(outcome, trace.path, port.heard)
