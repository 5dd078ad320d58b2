"""The agent roster (``agents/roster.yaml``) and the seats' SIP credentials.

Credentials are generated the first time a seat needs them and kept in
``run/secrets/seats.yaml`` (mode 600), never in git.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from callcenter import safefiles
from callcenter.errors import ConfigError
from callcenter.yamlfile import load_yaml, validate_document

AGENT_ID = r"^[0-9A-Za-z_-]{1,32}$"
SEAT = r"^[a-z][a-z0-9-]{0,39}$"
# Sections of asterisk-conf/pjsip.conf a seat's sections would merge into (a seat
# named citizen-trunk would let its password-holder speak for the trunk), and
# the endpoint name Asterisk gives to unidentified callers.
RESERVED_SEATS = frozenset(
    {
        "global",
        "transport-udp",
        "endpoint-defaults",
        "citizen-trunk",
        "citizen-trunk-identify",
        "dialout-trunk",
        "anonymous",
        "system",
    }
)


def _not_reserved(seat: str) -> str:
    if seat in RESERVED_SEATS:
        raise ValueError(f"{seat!r} is reserved for Asterisk's own configuration")
    return seat


class AgentConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Shown on phones as caller ID: no quotes, line breaks or ';' (config syntax).
    name: str = Field(min_length=1, max_length=64, pattern=r'^[^"\\;\r\n<>]+$')
    seat: Annotated[str, Field(pattern=SEAT), AfterValidator(_not_reserved)]
    # Queue name → level 1-10: which queues the agent serves and how well.
    skills: dict[str, Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=dict)
    languages: list[str] = Field(default_factory=lambda: ["zh"])


class Roster(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    agents: dict[Annotated[str, Field(pattern=AGENT_ID)], AgentConfig] = Field(default_factory=dict)

    def by_seat(self, seat: str) -> str | None:
        for agent_id, agent in self.agents.items():
            if agent.seat == seat:
                return agent_id
        return None


def load_roster(path: Path) -> Roster:
    if not path.exists():
        return Roster()
    doc = load_yaml(path)
    roster = validate_document(doc, Roster, doc.data or {})
    seats = [a.seat for a in roster.agents.values()]
    dupes = sorted({s for s in seats if seats.count(s) > 1})
    if dupes:
        raise ConfigError(f"{path}: seat(s) {', '.join(dupes)} given to more than one agent")
    return roster


def save_roster(path: Path, roster: Roster) -> None:
    """Write the roster back (atomically: a crash leaves the old file).

    Ops staff edit this file by hand, so it is changed in place: agents left
    as they were keep their comments and layout, removed ones go, new ones are
    appended in the file's compact style.
    """
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 100
    doc = rt.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if not isinstance(doc, CommentedMap):
        doc = CommentedMap()
    if not isinstance(doc.get("agents"), CommentedMap):
        doc["agents"] = CommentedMap()
    agents: CommentedMap = doc["agents"]
    for agent_id in [a for a in agents if a not in roster.agents]:
        del agents[agent_id]
    for agent_id, config in roster.agents.items():
        wanted = config.model_dump()
        if agents.get(agent_id) != wanted:
            key = agent_id if agent_id in agents else DoubleQuotedScalarString(agent_id)
            agents[key] = _compact(wanted)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as out:
        rt.dump(doc, out)
    os.replace(tmp, path)


def _compact(agent: dict[str, Any]) -> CommentedMap:
    """An agent as the roster writes them: skills and languages on one line."""
    entry = CommentedMap()
    for key, value in agent.items():
        if isinstance(value, dict):
            value = CommentedMap(value)
            value.fa.set_flow_style()
        elif isinstance(value, list):
            value = CommentedSeq(value)
            value.fa.set_flow_style()
        entry[key] = value
    return entry


class SeatSecrets:
    """seat → SIP password, generated on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        return {str(k): str(v) for k, v in (yaml.safe_load(self.path.read_text()) or {}).items()}

    def passwords(self, seats: list[str]) -> dict[str, str]:
        known = self._read()
        missing = [s for s in seats if s not in known]
        if missing:
            known.update({s: secrets.token_urlsafe(12) for s in missing})
            self.path.parent.mkdir(parents=True, exist_ok=True)
            safefiles.write_file(self.path, yaml.safe_dump(known, sort_keys=True), mode=0o600)
        return {s: known[s] for s in seats}


def render_seats(roster: Roster, passwords: dict[str, str]) -> str:
    """pjsip.conf sections for every seat: endpoint, digest auth, AOR."""
    out = ["; Rendered from agents/roster.yaml by callcenter; do not edit.\n"]
    for agent_id, agent in sorted(roster.agents.items()):
        seat = agent.seat
        out.append(
            f"""
; agent {agent_id}
[{seat}](endpoint-defaults)
context = from-agents
identify_by = username
auth = {seat}
aors = {seat}
callerid = "{agent.name}" <{agent_id}>
set_var = PJSIP_TRANSFER_HANDLING()=ari-only
set_var = HOTLINE_AGENT={agent_id}

[{seat}]
type = auth
auth_type = digest
username = {seat}
password = {passwords[seat]}

[{seat}]
type = aor
max_contacts = 1
remove_existing = yes
qualify_frequency = 0
"""
        )
    return "".join(out)
