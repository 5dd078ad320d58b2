"""Runs a flow on a CallPort: the one implementation used live and in the simulator."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcenter.calendar import WorkCalendar
from callcenter.errors import CallCenterError
from callcenter.ivr.flowset import FlowSet
from callcenter.ivr.port import (
    CallInfo,
    CallPort,
    IvrSink,
    QueueResult,
    TicketLookup,
    TicketStatus,
    Trace,
    TransferResult,
)
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.schema import (
    INPUT_NODES,
    BranchNode,
    CollectNode,
    Condition,
    GotoNode,
    HangupNode,
    LookupNode,
    MenuNode,
    PlayNode,
    QueueNode,
    ReturnNode,
    SetNode,
    SubflowNode,
    SurveyNode,
    TransferNode,
    VoicemailNode,
)
from callcenter.ivr.verify import DIGITS_ASKED, last_digits, same_number
from callcenter.ratelimit import Guard

# A flow passes validation only if every loop waits for a key, so these are
# guards against bugs, not limits ops staff meet.
MAX_STEPS_WITHOUT_INPUT = 500
MAX_SUBFLOW_DEPTH = 8


class IvrRuntimeError(CallCenterError):
    title = "IVR runtime error"


class Outcome(enum.Enum):
    COMPLETED = "completed"  # the flow ended (hang-up node, or nowhere left to go)
    TRANSFERRED = "transferred"
    CALLER_LEFT = "caller_left"  # ended by the caller in a way the flow expects (voicemail)
    ANSWERED = "answered"  # an agent talked with the caller
    CALLBACK = "callback"  # the caller chose to be called back


@dataclass(frozen=True, slots=True)
class IvrServices:
    prompts: PromptLibrary
    calendar: WorkCalendar
    lookup: TicketLookup
    sink: IvrSink
    clock: Callable[[], datetime]
    # Lookups counted per caller number and per query code (shared with the web's).
    guard: Guard


@dataclass(frozen=True, slots=True)
class _Goto:
    node: str


@dataclass(frozen=True, slots=True)
class _Enter:
    flow: str
    then: str | None


@dataclass(frozen=True, slots=True)
class _Return:
    pass


@dataclass(frozen=True, slots=True)
class _End:
    outcome: Outcome


_Step = _Goto | _Enter | _Return | _End


class Interpreter:
    def __init__(
        self,
        flows: FlowSet,
        flow: str,
        port: CallPort,
        services: IvrServices,
        call: CallInfo,
        trace: Trace,
        resume_at: tuple[str, str] | None = None,
    ) -> None:
        """``resume_at`` (flow, node): a call taken over after a restart starts
        there instead of at the flow's start, and its first node does not
        repeat what the previous process already recorded."""
        self.flows = flows
        self.entry = flow
        self.port = port
        self.services = services
        self.call = call
        self.trace = trace
        self.language = flows.flows[flow].language
        self.vars: dict[str, str] = {}
        self.flow = flow
        self.node_id = flows.flows[flow].start
        self._stack: list[tuple[str, str | None]] = []
        self._messages = 0
        self.resuming = resume_at is not None
        if resume_at is not None:
            self.flow, self.node_id = resume_at

    async def run(self) -> Outcome:
        steps = 0
        while True:
            node = self.flows.flows[self.flow].nodes[self.node_id]
            self.trace.node(self.flow, self.node_id, node.type)
            step = await self._execute(node)
            self.resuming = False
            steps = 0 if isinstance(node, INPUT_NODES) else steps + 1
            if steps > MAX_STEPS_WITHOUT_INPUT:
                raise IvrRuntimeError(f"{self.flow}/{self.node_id}: no input for {steps} steps")
            match step:
                case _Goto(node=target):
                    self.node_id = target
                case _Enter(flow=sub, then=then):
                    if len(self._stack) >= MAX_SUBFLOW_DEPTH:
                        raise IvrRuntimeError(f"{self.flow}/{self.node_id}: subflows too deep")
                    self._stack.append((self.flow, then))
                    self.flow, self.node_id = sub, self.flows.flows[sub].start
                case _Return():
                    # A subflow node without `next` returns from its own flow too.
                    then = None
                    while then is None and self._stack:
                        self.flow, then = self._stack.pop()
                    if then is None:
                        return Outcome.COMPLETED
                    self.node_id = then
                case _End(outcome=outcome):
                    return outcome

    # Node types ------------------------------------------------------------------
    async def _execute(self, node: Any) -> _Step:
        handler: Callable[[Any], Awaitable[_Step]] = getattr(self, f"_{node.type}")
        return await handler(node)

    def _then(self, next_node: str | None) -> _Step:
        """Where a node without an explicit branch goes: next, else back or end."""
        return _Goto(next_node) if next_node else _Return()

    async def _say(self, names: list[str], interruptible: bool = True) -> None:
        if names:
            media = [self.services.prompts.media(n, self.language) for n in names]
            await self.port.play(media, self.language, interruptible)

    async def _play(self, node: PlayNode) -> _Step:
        await self._say(node.prompts, node.interruptible)
        return self._then(node.next)

    async def _menu(self, node: MenuNode) -> _Step:
        for attempt in range(1, node.max_retries + 1):
            await self._say(node.prompts)
            key = await self.port.read_digits(1, node.timeout, node.timeout, None)
            if key in node.choices:
                self.trace.step("menu_choice", node=self.node_id, digit=key, attempt=attempt)
                return _Goto(node.choices[key])
            if key:
                self.trace.step("menu_invalid", node=self.node_id, digit=key, attempt=attempt)
                await self._say(node.invalid_prompts)
            else:
                self.trace.step("menu_timeout", node=self.node_id, attempt=attempt)
                await self._say(node.timeout_prompts)
        self.trace.step("menu_failed", node=self.node_id)
        return _Goto(node.on_fail) if node.on_fail else _End(Outcome.COMPLETED)

    async def _collect(self, node: CollectNode) -> _Step:
        for attempt in range(1, node.max_retries + 1):
            await self._say(node.prompts)
            digits = await self.port.read_digits(
                node.max_digits, node.first_digit_timeout, node.inter_digit_timeout, node.terminator
            )
            valid = len(digits) >= node.min_digits and (
                node.pattern is None or re.fullmatch(node.pattern, digits) is not None
            )
            if valid:
                self.vars[node.var] = digits
                self.trace.step("collected", node=self.node_id, var=node.var, digits=digits)
                return self._then(node.next)
            if digits:
                self.trace.step(
                    "collect_invalid", node=self.node_id, digits=digits, attempt=attempt
                )
                await self._say(node.invalid_prompts)
            else:
                self.trace.step("collect_timeout", node=self.node_id, attempt=attempt)
                await self._say(node.timeout_prompts)
        self.trace.step("collect_failed", node=self.node_id)
        return _Goto(node.on_fail) if node.on_fail else _End(Outcome.COMPLETED)

    async def _branch(self, node: BranchNode) -> _Step:
        for i, case in enumerate(node.cases):
            if self._holds(case.when):
                self.trace.step("branch", node=self.node_id, case=i, goto=case.goto)
                return _Goto(case.goto)
        self.trace.step("branch", node=self.node_id, case="default", goto=node.default)
        return _Goto(node.default)

    def _holds(self, cond: Condition) -> bool:
        cal = self.services.calendar
        now = cal.local(self.services.clock())
        checks: list[bool] = []
        if cond.business_hours is not None:
            checks.append(cal.is_open(now) == cond.business_hours)
        if cond.holiday is not None:
            checks.append(cal.is_holiday(now.date()) == cond.holiday)
        if cond.workday is not None:
            checks.append(cal.is_workday(now.date()) == cond.workday)
        if cond.caller is not None:
            checks.append(re.search(cond.caller, self.call.caller) is not None)
        if cond.language is not None:
            checks.append(self.language == cond.language)
        if cond.var is not None:
            value = self.vars.get(cond.var.name)
            if cond.var.set is not None:
                checks.append((value is not None) == cond.var.set)
            if cond.var.equals is not None:
                checks.append(value == cond.var.equals)
            if cond.var.matches is not None:
                checks.append(value is not None and re.search(cond.var.matches, value) is not None)
        return all(checks)

    async def _goto(self, node: GotoNode) -> _Step:
        return _Goto(node.target)

    async def _subflow(self, node: SubflowNode) -> _Step:
        return _Enter(node.flow, node.next)

    async def _return(self, node: ReturnNode) -> _Step:
        return _Return()

    async def _queue(self, node: QueueNode) -> _Step:
        self.trace.step(
            "queue_requested", queue=node.queue, priority=node.priority, skills=node.skills
        )
        if not self.resuming:  # a taken-over caller's request is already recorded
            await self.services.sink.queue_requested(
                self.call, node.queue, node.priority, node.skills, self.flow, self.node_id
            )
        result = await self.port.queue(node.queue, node.priority, node.skills, self.language)
        self.trace.step("queue_result", node=self.node_id, result=result.value)
        if result is QueueResult.ANSWERED:
            return _Goto(node.after_call) if node.after_call else _End(Outcome.ANSWERED)
        if result is QueueResult.CALLBACK:
            return _End(Outcome.CALLBACK)
        await self._say(node.busy_prompts)
        return self._then(node.next)

    async def _voicemail(self, node: VoicemailNode) -> _Step:
        await self._say(node.prompts, interruptible=False)
        self._messages += 1
        day = self.services.clock().strftime("%Y/%m/%d")
        name = f"voicemail/{day}/{self.call.call_id}-{self._messages}"
        message = await self.port.record(name, node.max_seconds, node.beep, node.terminator)
        if message is None:
            self.trace.step("voicemail_empty", node=self.node_id)
            return self._then(node.next)
        self.trace.step(
            "voicemail", node=self.node_id, recording=message.name, seconds=message.duration_seconds
        )
        await self.services.sink.voicemail_left(self.call, message, self.flow, self.node_id)
        if message.caller_hung_up:
            return _End(Outcome.CALLER_LEFT)
        await self._say(node.thanks_prompts)
        return self._then(node.next)

    async def _lookup(self, node: LookupNode) -> _Step:
        """The status, to the caller who gave the request: calling from its phone,
        or typing the phone's last four digits. Every try is counted."""
        code = self.vars.get(node.var, "")
        caller = f"tel:{self.call.caller}"
        guard = self.services.guard
        if code and (wait := guard.attempt(caller, code)):
            return await self._lookup_locked(node, code, wait)
        found = await self.services.lookup.status(code) if code else None
        expected = last_digits(found.phone) if found is not None else None
        if found is None or expected is None:  # no phone to check: as good as unknown
            self._traced_lookup(code, found=False)
            await self._say(node.not_found_prompts)
            return self._then(node.next)
        if same_number(self.call.caller, found.phone):
            guard.succeeded(caller, code)
            return await self._speak_status(node, found, "caller")
        for attempt in range(1, node.verify_tries + 1):
            if attempt > 1 and (wait := guard.attempt(caller, code)):
                return await self._lookup_locked(node, code, wait)
            await self._say(node.verify_prompts)
            typed = await self.port.read_digits(
                DIGITS_ASKED, node.verify_timeout, node.verify_timeout, "#"
            )
            if typed == expected:
                guard.succeeded(caller, code)
                return await self._speak_status(node, found, "last_four")
            # The outcome only: what was typed is part of a citizen's number.
            result = "wrong" if typed else "timeout"
            self.trace.step("lookup_verify", node=self.node_id, attempt=attempt, result=result)
            await self._say(node.verify_failed_prompts)
        self._traced_lookup(code, found=True)
        return _Goto(node.on_fail) if node.on_fail else _End(Outcome.COMPLETED)

    def _traced_lookup(
        self, code: str, found: bool, verified_by: str | None = None, status: str | None = None
    ) -> None:
        self.trace.step(
            "lookup",
            node=self.node_id,
            query_code=code,
            found=found,
            verified_by=verified_by,
            status=status,
        )

    async def _lookup_locked(self, node: LookupNode, code: str, wait: float) -> _Step:
        self.trace.step("lookup_locked", node=self.node_id, query_code=code, wait=round(wait))
        await self._say(node.locked_prompts)
        return _Goto(node.on_fail) if node.on_fail else _End(Outcome.COMPLETED)

    async def _speak_status(self, node: LookupNode, found: TicketStatus, verified_by: str) -> _Step:
        self._traced_lookup(found.query_code, True, verified_by, found.status)
        prompts = self.services.prompts
        speech = [
            *node.intro_prompts,
            *prompts.say_digits(found.query_code, self.language),
            f"status_{found.status}",
        ]
        if found.updated is not None:
            speech += ["updated_on", *prompts.say_date(found.updated, self.language)]
        await self._say(speech)
        return self._then(node.next)

    async def _transfer(self, node: TransferNode) -> _Step:
        await self._say(node.prompts, interruptible=False)
        result = await self.port.transfer(node.number, node.timeout)
        self.trace.step("transfer", node=self.node_id, number=node.number, result=result.value)
        if result is TransferResult.CONNECTED:
            return _End(Outcome.TRANSFERRED)
        await self._say(node.failed_prompts)
        return self._then(node.next)

    async def _survey(self, node: SurveyNode) -> _Step:
        for attempt in range(1, node.max_retries + 1):
            await self._say(node.prompts)
            key = await self.port.read_digits(1, node.timeout, node.timeout, None)
            if key and key in "12345":
                self.trace.step("survey", node=self.node_id, score=int(key))
                await self.services.sink.survey_answered(
                    self.call, int(key), self.flow, self.node_id
                )
                await self._say(node.thanks_prompts)
                return self._then(node.next)
            self.trace.step(
                "survey_invalid" if key else "survey_timeout",
                node=self.node_id,
                digit=key,
                attempt=attempt,
            )
            if key:
                await self._say(node.invalid_prompts)
        self.trace.step("survey_skipped", node=self.node_id)
        return self._then(node.next)

    async def _set(self, node: SetNode) -> _Step:
        self.vars.update(node.vars)
        if node.language:
            self.language = node.language
        self.trace.step("set", node=self.node_id, vars=dict(node.vars), language=node.language)
        return self._then(node.next)

    async def _hangup(self, node: HangupNode) -> _Step:
        await self._say(node.prompts, interruptible=False)
        return _End(Outcome.COMPLETED)
