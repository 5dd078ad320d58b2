"""Where a live call's IVR results go: the call record writer (and the voicemail hooks).

Rows are queued on the record writer, which writes them after the call's own
row and keeps them while PostgreSQL is away, so the caller never waits on the
database and no answer is lost. Voicemail hooks run once the message's rows
are committed, in the background: a slow or failing hook costs the caller
nothing (the desk's intake round catches a message the hook missed).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from callcenter.ari import AriPort
from callcenter.calls.recorder import CallRecorder
from callcenter.db.models import QueueRequest, Survey
from callcenter.ivr.port import CallInfo, RecordedMessage
from callcenter.recording.store import NewVoicemail, VoicemailHook, save_voicemail

log = logging.getLogger(__name__)


@dataclass
class DbIvrSink:
    ari: AriPort
    recorder: CallRecorder
    voicemail_hooks: list[VoicemailHook] = field(default_factory=list)
    _after_commit: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

    async def queue_requested(
        self, call: CallInfo, queue: str, priority: int, skills: list[str], flow: str, node: str
    ) -> None:
        self.recorder.insert(
            QueueRequest,
            {
                "call_id": call.call_id,
                "queue": queue,
                "priority": priority,
                "skills": skills,
                "flow": flow,
                "node": node,
                "requested_at": datetime.now(UTC),
            },
        )

    async def voicemail_left(
        self, call: CallInfo, message: RecordedMessage, flow: str, node: str
    ) -> None:
        saved = await save_voicemail(
            self.recorder,
            self.ari,
            call_id=call.call_id,
            caller_number=call.caller,
            name=message.name,
            fmt=message.format,
            duration_seconds=message.duration_seconds,
            flow=flow,
            node=node,
        )
        task = asyncio.create_task(self._run_hooks(saved), name=f"voicemail-{saved.voicemail_id}")
        self._after_commit.add(task)
        task.add_done_callback(self._after_commit.discard)

    async def close(self) -> None:
        """Stop hooks still waiting (the service is stopping): a message left
        without its ticket is adopted by the next start's round."""
        for task in list(self._after_commit):
            task.cancel()
        await asyncio.gather(*self._after_commit, return_exceptions=True)

    async def _run_hooks(self, saved: NewVoicemail) -> None:
        await self.recorder.flush()  # the message's rows are in before anyone acts on them
        for hook in self.voicemail_hooks:
            try:
                await hook(saved)
            except Exception:  # a hook must not cost the caller their message
                log.exception("voicemail hook failed for %s", saved.voicemail_id)

    async def survey_answered(self, call: CallInfo, score: int, flow: str, node: str) -> None:
        self.recorder.insert(
            Survey,
            {
                "call_id": call.call_id,
                "score": score,
                "flow": flow,
                "node": node,
                "created_at": datetime.now(UTC),
            },
        )
