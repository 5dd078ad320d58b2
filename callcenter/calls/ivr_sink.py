"""Where a live call's IVR results go: PostgreSQL (and the voicemail hooks)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from callcenter.ari import AriClient
from callcenter.calls.recorder import CallRecorder
from callcenter.db.models import QueueRequest, Survey
from callcenter.ivr.port import CallInfo, RecordedMessage
from callcenter.recording.store import VoicemailHook, save_voicemail

log = logging.getLogger(__name__)


@dataclass
class DbIvrSink:
    sessions: async_sessionmaker[AsyncSession]
    ari: AriClient
    recorder: CallRecorder
    voicemail_hooks: list[VoicemailHook] = field(default_factory=list)

    async def _call_row_written(self) -> None:
        # Rows below reference calls(id); the call's own row is written by the
        # recorder, so let it catch up first.
        await self.recorder.flush()

    async def queue_requested(
        self, call: CallInfo, queue: str, priority: int, skills: list[str], flow: str, node: str
    ) -> None:
        await self._call_row_written()
        async with self.sessions.begin() as session:
            session.add(
                QueueRequest(
                    call_id=call.call_id,
                    queue=queue,
                    priority=priority,
                    skills=skills,
                    flow=flow,
                    node=node,
                    requested_at=datetime.now(UTC),
                )
            )

    async def voicemail_left(
        self, call: CallInfo, message: RecordedMessage, flow: str, node: str
    ) -> None:
        await self._call_row_written()
        saved = await save_voicemail(
            self.sessions,
            self.ari,
            call_id=call.call_id,
            caller_number=call.caller,
            name=message.name,
            fmt=message.format,
            duration_seconds=message.duration_seconds,
            flow=flow,
            node=node,
        )
        for hook in self.voicemail_hooks:
            try:
                await hook(saved)
            except Exception:  # a hook must not cost the caller their message
                log.exception("voicemail hook failed for %s", saved.voicemail_id)

    async def survey_answered(self, call: CallInfo, score: int, flow: str, node: str) -> None:
        await self._call_row_written()
        async with self.sessions.begin() as session:
            session.add(
                Survey(
                    call_id=call.call_id,
                    score=score,
                    flow=flow,
                    node=node,
                    created_at=datetime.now(UTC),
                )
            )
