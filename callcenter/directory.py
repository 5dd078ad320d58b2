"""The department directory (通讯录): the only numbers a call may be sent to.

Transfers and 三方连线 reach a department's number or its duty line (值班电话)
from ``config/directory.yaml``, or another agent's seat; nothing else, so a
stolen agent login or a softphone cannot turn the dial-out trunk into free
long-distance calls (toll fraud). Codes are the catalogue's departments, so a
department one can transfer to is a department of the desk. The directory is
loaded with the IVR flows (their transfer nodes are checked against it) and
reloaded with them.
"""

from __future__ import annotations

import logging
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from callcenter.errors import CallCenterError, ConfigError
from callcenter.yamlfile import YamlDocument, load_yaml, validate_document

log = logging.getLogger(__name__)

CODE = r"^[A-Za-z0-9_.-]{1,32}$"
NUMBER = r"^\+?[0-9]{3,32}$"
# What a transfer may name: agent:ID, dept:CODE, dept:CODE/duty, or a number.
DESTINATION = r"^(agent:[0-9A-Za-z_-]{1,32}|dept:[A-Za-z0-9_.-]{1,32}(/duty)?|\+?[0-9]{1,32})$"

Number = Annotated[str, Field(pattern=NUMBER)]


class DestinationRefused(CallCenterError):
    """A transfer to somewhere that is neither in the directory nor a seat."""

    title = "Transfer destination refused"


class LinesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    number: Number  # the department's desk for transfers (quoted: "0755…" is not octal)
    duty: Number | None = None  # its duty line (值班电话), out of hours or urgent
    name: str | None = Field(None, min_length=1, max_length=128)  # default: the catalogue's

    @field_validator("number", "duty", mode="before")
    @classmethod
    def _quoted(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError(f'write numbers in quotes ("{v}"): YAML reads 0755… as octal')
        return v


class DirectoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    departments: dict[Annotated[str, Field(pattern=CODE)], LinesIn] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Entry:
    code: str
    name: str
    number: str
    duty: str | None


@dataclass(frozen=True, slots=True)
class Destination:
    """Somewhere a call may go; only :func:`resolve` makes one."""

    key: str  # dept:CODE, dept:CODE/duty or agent:ID
    name: str
    number: str | None = None  # what the dial-out trunk dials (departments)
    agent_id: str | None = None  # whose seat rings (agents)

    @property
    def department(self) -> str | None:
        return self.key.removeprefix("dept:").split("/")[0] if self.number else None


class Directory:
    def __init__(self, entries: list[Entry], source: Path | None = None) -> None:
        self.entries = {e.code: e for e in entries}
        self.source = source
        self._by_number: dict[str, Destination] = {}
        for e in entries:
            self._by_number[e.number] = Destination(f"dept:{e.code}", e.name, number=e.number)
            if e.duty:
                self._by_number[e.duty] = Destination(
                    f"dept:{e.code}/duty", f"{e.name} (值班)", number=e.duty
                )

    def department(self, wanted: str) -> Destination | None:
        """``dept:CODE``, ``dept:CODE/duty`` or one of the directory's numbers."""
        if not wanted.startswith("dept:"):
            return self._by_number.get(wanted)
        code, _, line = wanted.removeprefix("dept:").partition("/")
        entry = self.entries.get(code)
        if entry is None or line not in ("", "duty"):
            return None
        number = entry.duty if line == "duty" else entry.number
        return self._by_number.get(number) if number else None

    def numbers(self) -> list[str]:
        return sorted(self._by_number)


def resolve(
    directory: Directory, wanted: str, agents: Container[str] = (), *, seats: bool = True
) -> Destination:
    """Where ``wanted`` may go: a directory entry (by key or number) or, with
    ``seats``, an agent of the roster (``agent:ID`` or the bare id a softphone
    dials). Anything else raises DestinationRefused naming it."""
    found = directory.department(wanted)
    if found is not None:
        return found
    agent_id = wanted.removeprefix("agent:")
    if seats and agent_id in agents:
        return Destination(f"agent:{agent_id}", agent_id, agent_id=agent_id)
    shown = wanted if len(wanted) <= 64 else wanted[:64] + "…"
    where = "the department directory" + (" nor an agent" if seats else "")
    raise DestinationRefused(f"transfer to {shown!r} refused: not in {where}")


def load_directory(path: Path | None, departments: Mapping[str, str] | None = None) -> Directory:
    """Read and check the directory; ConfigError names file, line and field.

    ``departments`` (code → name, from the catalogue) are the codes it may use.
    No file: an empty directory, so calls go to agents only.
    """
    if path is None:
        return Directory([])
    if not path.exists():
        log.warning("no department directory at %s: transfers reach agents only", path)
        return Directory([], path)
    doc = load_yaml(path)
    parsed = validate_document(doc, DirectoryIn, doc.data or {})
    problems: list[str] = []
    first: dict[str, tuple[str, ...]] = {}
    entries = []
    for code, lines in parsed.departments.items():
        if departments is not None and code not in departments:
            problems.append(
                f"{_where(doc, ('departments', code))}: no department {code!r} in the catalogue"
            )
        for field in ("number", "duty"):
            number = getattr(lines, field)
            if number is None:
                continue
            loc = ("departments", code, field)
            if number in first:
                line, _ = doc.locate(first[number])
                problems.append(
                    f"{_where(doc, loc)}: number {number} is already "
                    f"{'.'.join(first[number][1:])} (line {line})"
                )
            first.setdefault(number, loc)
        name = lines.name or (departments or {}).get(code) or code
        entries.append(Entry(code, name, lines.number, lines.duty))
    if problems:
        raise ConfigError("\n".join(problems))
    return Directory(entries, path)


def _where(doc: YamlDocument, loc: tuple[str, ...]) -> str:
    line, column = doc.locate(loc)
    return f"{doc.path}:{line}:{column}: {'.'.join(loc)}"
