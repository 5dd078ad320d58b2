"""Queue records: a row per stay in a queue, and callback tasks (漏话回拨)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callcenter.calls.recorder import CallRecorder
from callcenter.db.models import CallbackTask, QueueCall


@dataclass
class QueueStay:
    """What one caller's stay in a queue came to."""

    call_id: uuid.UUID
    queue: str
    priority: int
    entered_at: datetime
    outcome: str = "abandoned"  # answered | abandoned | overflow | callback | shutdown
    attempts: int = 0
    agent_id: str | None = None
    answered_at: datetime | None = None
    talk_seconds: float | None = None
    wrapup_seconds: float | None = None
    transferred_to: str | None = None
    recording_id: uuid.UUID | None = None
    left_at: datetime | None = None  # when the conversation (or the wait) ended
    # The row's id: a stay taken over after a restart keeps the one its first
    # process would have used, so the row lands once whoever writes it.
    row_id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass
class AcdStore:
    """Queue rows go through the call record writer: after the call's own row,
    kept and retried while PostgreSQL is away. A stay's id is made here, when
    it is submitted, and kept in the spool: written twice, it lands once."""

    recorder: CallRecorder

    async def stay_ended(self, stay: QueueStay) -> None:
        left_at = stay.left_at or datetime.now(UTC)
        self.recorder.insert(
            QueueCall,
            {
                "id": stay.row_id,
                "call_id": stay.call_id,
                "queue": stay.queue,
                "priority": stay.priority,
                "entered_at": stay.entered_at,
                "left_at": left_at,
                "wait_seconds": ((stay.answered_at or left_at) - stay.entered_at).total_seconds(),
                "outcome": stay.outcome,
                "agent_id": stay.agent_id,
                "answered_at": stay.answered_at,
                "talk_seconds": stay.talk_seconds,
                "wrapup_seconds": stay.wrapup_seconds,
                "transferred_to": stay.transferred_to,
                "recording_id": stay.recording_id,
                "attempts": stay.attempts,
            },
        )

    async def callback(
        self, call_id: uuid.UUID, caller: str, queue: str, reason: str, queued_at: datetime
    ) -> None:
        self.recorder.insert(
            CallbackTask,
            {
                "call_id": call_id,
                "caller_number": caller,
                "queue": queue,
                "reason": reason,
                "queued_at": queued_at,
                "created_at": datetime.now(UTC),
                "status": "open",
            },
        )
