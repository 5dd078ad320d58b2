"""What the interpreter needs from a call, and what it tells the rest of the system.

A live call implements :class:`CallPort` on ARI (callcenter.calls.ari_port);
the simulator implements it on a list of key presses. The interpreter is the
same code in both, so the simulator shows the path a live call takes.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class CallInfo:
    call_id: uuid.UUID
    caller: str
    dialled: str


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    name: str  # Asterisk's recording name, e.g. voicemail/2026/11/28/<call id>-1
    format: str
    duration_seconds: float | None
    caller_hung_up: bool  # the caller ended the message by hanging up


class TransferResult(enum.Enum):
    CONNECTED = "connected"  # the department answered; the call ended after talking
    NO_ANSWER = "no_answer"
    FAILED = "failed"


class QueueResult(enum.Enum):
    ANSWERED = "answered"  # an agent talked with the caller
    OVERFLOW = "overflow"  # nobody answered in time (or nobody staffs the queue)
    CALLBACK = "callback"  # the caller asked to be called back


class CallPort(Protocol):
    async def play(self, media: list[str], lang: str, interruptible: bool) -> None:
        """Play in order; with ``interruptible`` a key stops it and is kept for the next read."""

    async def read_digits(
        self, max_digits: int, first_timeout: float, inter_timeout: float, terminator: str | None
    ) -> str:
        """Keys pressed (type-ahead first), without the terminator; '' when none came."""

    async def record(
        self, name: str, max_seconds: int, beep: bool, terminator: str | None
    ) -> RecordedMessage | None:
        """Record the caller; None when nothing was recorded."""

    async def transfer(self, number: str, timeout: int) -> TransferResult:
        """Connect the caller to ``number`` through the dial-out trunk."""

    async def queue(
        self, queue: str, priority: int, skills: list[str], language: str
    ) -> QueueResult:
        """Wait for an agent of ``queue`` and talk; or overflow, or a callback."""


class Trace(Protocol):
    """Every step and key, for call_events (live) or the screen (simulator)."""

    def node(self, flow: str, node: str, node_type: str) -> None: ...

    def step(self, kind: str, **detail: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class TicketStatus:
    query_code: str
    status: str  # a key with a prompt status_<key>: received, processing, replied, closed
    updated: date | None = None
    # The phone given at intake: compared with the caller's, never spoken nor traced.
    phone: str = field(default="", repr=False)


class TicketLookup(Protocol):
    async def status(self, query_code: str) -> TicketStatus | None: ...


class IvrSink(Protocol):
    """Where the IVR's results go: the database live, the screen in the simulator."""

    async def queue_requested(
        self, call: CallInfo, queue: str, priority: int, skills: list[str], flow: str, node: str
    ) -> None: ...

    async def voicemail_left(
        self, call: CallInfo, message: RecordedMessage, flow: str, node: str
    ) -> None: ...

    async def survey_answered(self, call: CallInfo, score: int, flow: str, node: str) -> None: ...
