"""Register a finished recording: fetch it through ARI, checksum it, queue its row.

Fetching through ARI (not the local disk) works whether Asterisk runs in our
chroot or on another machine; the sha256 lets auditors prove a file unchanged.
Rows go to a :class:`RowSink` (the call record writer), which writes them in
order after the call's own row and keeps them while PostgreSQL is away. Their
ids are made here, when they are submitted: a row written twice lands once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from callcenter.ari import AriPort
from callcenter.db.models import Recording, Voicemail


class RowSink(Protocol):
    def insert(self, table: Any, values: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class NewVoicemail:
    voicemail_id: uuid.UUID
    call_id: uuid.UUID
    caller_number: str
    recording_name: str
    sha256: str


# Called once a voicemail is committed; the work-order desk registers one that
# turns the message into a ticket (channel: voicemail).
VoicemailHook = Callable[[NewVoicemail], Awaitable[None]]


async def fetch_checksum(ari: AriPort, name: str) -> tuple[int, str]:
    data = await ari.stored_recording_file(name)
    return len(data), hashlib.sha256(data).hexdigest()


async def save_recording(
    rows: RowSink,
    ari: AriPort,
    *,
    call_id: uuid.UUID,
    kind: str,
    name: str,
    fmt: str,
    started_at: datetime,
    duration_seconds: float | None,
    agent_id: str | None = None,
    recording_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, str]:
    """Checksum the file and queue its ``recordings`` row; the row's id and sha256.

    ``recording_id``: an id fixed by the caller (a conversation's, from its
    recording's name), so a row written again after a restart lands once."""
    size, sha256 = await fetch_checksum(ari, name)
    recording_id = recording_id or uuid.uuid4()
    rows.insert(
        Recording,
        {
            "id": recording_id,
            "call_id": call_id,
            "kind": kind,
            "name": name,
            "format": fmt,
            "started_at": started_at,
            "duration_seconds": duration_seconds,
            "size_bytes": size,
            "sha256": sha256,
            "agent_id": agent_id,
        },
    )
    return recording_id, sha256


async def save_voicemail(
    rows: RowSink,
    ari: AriPort,
    *,
    call_id: uuid.UUID,
    caller_number: str,
    name: str,
    fmt: str,
    duration_seconds: float | None,
    flow: str,
    node: str,
) -> NewVoicemail:
    now = datetime.now(UTC)
    recording_id, sha256 = await save_recording(
        rows,
        ari,
        call_id=call_id,
        kind="voicemail",
        name=name,
        fmt=fmt,
        started_at=now,
        duration_seconds=duration_seconds,
    )
    voicemail_id = uuid.uuid4()
    rows.insert(
        Voicemail,
        {
            "id": voicemail_id,
            "call_id": call_id,
            "recording_id": recording_id,
            "caller_number": caller_number,
            "flow": flow,
            "node": node,
            "created_at": now,
            "status": "new",
        },
    )
    return NewVoicemail(voicemail_id, call_id, caller_number, name, sha256)
