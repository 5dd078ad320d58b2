"""Typed REST replies that are not also event payloads (those live in ``events``).

Like the events, each keeps only the fields callers read; unknown fields are
dropped here because nothing downstream stores a REST reply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Endpoint:
    """``GET /endpoints/{tech}``: a SIP endpoint and whether a phone is registered."""

    technology: str
    resource: str
    state: str  # "online", "offline", "unknown"
    channel_ids: tuple[str, ...]

    @property
    def online(self) -> bool:
        return self.state == "online"

    @classmethod
    def from_json(cls, data: Json) -> Endpoint:
        return cls(
            technology=data.get("technology", ""),
            resource=data.get("resource", ""),
            state=data.get("state", ""),
            channel_ids=tuple(data.get("channel_ids", ())),
        )


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """``GET /recordings/stored/{name}``: a finished recording in Asterisk's spool."""

    name: str
    format: str

    @classmethod
    def from_json(cls, data: Json) -> StoredRecording:
        return cls(name=data.get("name", ""), format=data.get("format", ""))
