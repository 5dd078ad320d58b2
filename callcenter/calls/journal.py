"""What a call has in flight, kept on its own channel in Asterisk.

A killed service loses its memory but not Asterisk's channels: the caller's
channel carries, in one variable, where the call was (IVR, waiting in a
queue, talking to an agent) and what a restarted service needs to take it
over without a cut: the queue, priority and time of arrival (the caller's
place), the agent, the leg, the talk bridge, the recording's name and when
the agent answered, and who is in the talk bridge after a transfer or a
three-way call; or the department an IVR transfer node connected the caller
to. It is written when the call moves (one round trip per move, not per
event) and read once by :mod:`callcenter.calls.adoption`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from callcenter.ari import AriError

log = logging.getLogger(__name__)

JOURNAL_VAR = "HOTLINE_JOURNAL"
# Ids of a conversation's rows, derived from its recording's name (unique per
# call and attempt): both processes of a restart name them alike.
_ROWS = uuid.UUID("5b0c6f7e-2f4a-4d8e-9c61-12345aa2b001")
# Ids of calls, derived from the caller's channel id, which Asterisk makes
# unique (its system name, its start time and a counter): both processes of a
# restart name the call alike with no request to write the id on the channel.
_CALLS = uuid.UUID("5b0c6f7e-2f4a-4d8e-9c61-12345aa2b002")
# transfer: an IVR transfer node connected the caller to a department.
STAGES = ("ivr", "queue", "talk", "transfer")
_TIMES = ("enqueued_at", "answered_at")


class VariableSetter(Protocol):
    async def set_variable(self, channel_id: str, name: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PartyNote:
    """One party in the caller's bridge: its leg, and the agent or number it is."""

    leg: str
    agent: str | None = None
    number: str | None = None

    def encode(self) -> dict[str, str]:
        pairs = (("leg", self.leg), ("agent", self.agent), ("number", self.number))
        return {k: v for k, v in pairs if v}

    @classmethod
    def decode(cls, data: Any) -> PartyNote:
        if not isinstance(data, dict) or not isinstance(data.get("leg"), str):
            raise ValueError(f"not a party: {data!r}")
        agent, number = data.get("agent"), data.get("number")
        return cls(data["leg"], str(agent) if agent else None, str(number) if number else None)


@dataclass(frozen=True, slots=True)
class Journal:
    """The call's stage and the facts a restart needs for it."""

    stage: str = "ivr"  # ivr | queue | talk | transfer
    flow: str | None = None  # the flow and node that queued the caller
    node: str | None = None
    queue: str | None = None
    priority: int = 0
    skills: tuple[str, ...] = ()
    language: str | None = None
    enqueued_at: datetime | None = None  # the caller's place in the queue
    hold_bridge: str | None = None
    attempts: int = 0
    agent: str | None = None
    leg: str | None = None  # the answering agent's channel
    answered_at: datetime | None = None
    bridge: str | None = None  # the recorded mixing bridge (an IVR transfer's bridge)
    recording: str | None = None
    # Who is in the bridge besides the caller once a transfer or a three-way call
    # moved it (or an IVR transfer connected a department); None: only the agent
    # who answered (``leg``), as journals before transfers were journalled say.
    parties: tuple[PartyNote, ...] | None = None
    transferred_to: str | None = None  # the stay's last transfer (number or agent:ID)
    # Not written: read off Asterisk at a take-over (the caller out of its talk
    # bridge), so a hold survives even one the journal never heard of.
    on_hold: bool = False

    def encode(self) -> str:
        values: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "on_hold":
                continue
            value = getattr(self, f.name)
            if f.name == "parties" and value is not None:
                values["parties"] = [p.encode() for p in value]  # () too: nobody is left
                continue
            if value is None or value == () or (f.name in ("priority", "attempts") and not value):
                continue
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = list(value)
            values[f.name] = value
        return json.dumps(values, separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def decode(cls, text: str | None) -> Journal | None:
        """The journal, or None when absent or unreadable (then the call is
        treated as one in the IVR: the safe choice)."""
        if not text:
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("stage", "ivr") not in STAGES:
                return None
            for name in _TIMES:
                if data.get(name) is not None:
                    data[name] = datetime.fromisoformat(data[name])
            if "skills" in data:
                data["skills"] = tuple(str(s) for s in data["skills"])
            if data.get("parties") is not None:
                data["parties"] = tuple(PartyNote.decode(p) for p in data["parties"])
            for name in ("priority", "attempts"):
                data[name] = int(data.get(name, 0))
            data.pop("on_hold", None)  # read off Asterisk, never off the variable
            return cls(**data)
        except (TypeError, ValueError, AttributeError) as exc:
            log.warning("unreadable call journal %r: %s", text[:200], exc)
            return None

    def talkers(self) -> tuple[PartyNote, ...]:
        """Who was in the caller's bridge: the journalled parties, else (a
        journal no transfer moved, or one an older version wrote) the agent
        who answered, on ``leg``."""
        if self.parties is not None:
            return self.parties
        return (PartyNote(self.leg, self.agent),) if self.leg else ()


def row_id(kind: str, recording: str) -> uuid.UUID:
    """The id of a conversation's ``kind`` row (stay, recording): the same in the
    process that began the conversation and in one that took it over, so the
    row is written once (``ON CONFLICT DO NOTHING`` on the id)."""
    return uuid.uuid5(_ROWS, f"{kind}:{recording}")


def call_id_of(channel_id: str) -> uuid.UUID:
    """The id of the call whose caller is on ``channel_id`` (its record's id)."""
    return uuid.uuid5(_CALLS, channel_id)


class CallJournal:
    """The journal of one call, written to its channel as the call moves."""

    def __init__(self, ari: VariableSetter, channel_id: str, start: Journal | None = None) -> None:
        self.ari = ari
        self.channel_id = channel_id
        self.current = start or Journal()

    def mark(self, **changes: Any) -> None:
        """Change the journal in memory only (written with the next :meth:`note`)."""
        self.current = dataclasses.replace(self.current, **changes)

    async def note(self, **changes: Any) -> None:
        """Change the journal and write it. A channel already gone has nothing
        left to adopt, so a refusal is not an error of the call."""
        self.mark(**changes)
        with contextlib.suppress(AriError):
            await self.ari.set_variable(self.channel_id, JOURNAL_VAR, self.current.encode())
