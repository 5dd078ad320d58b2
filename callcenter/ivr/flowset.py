"""Load every flow file together into one immutable, versioned FlowSet.

A set is all-or-nothing: any error in any file rejects the whole set, and
the caller keeps serving the set it has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from pydantic import ValidationError

from callcenter.errors import ConfigError
from callcenter.ivr import messages
from callcenter.ivr.schema import NODE_TYPES, Flow
from callcenter.yamlfile import YamlDocument, load_yaml


@dataclass(frozen=True, slots=True)
class FlowError:
    path: Path
    line: int
    column: int
    field: str
    message: str
    hint: str = ""
    # A warning is printed with its place but does not refuse the set.
    warning: bool = False
    # Follows from another file's error (printed above it): indented under it.
    follows: bool = False

    def __str__(self) -> str:
        # The labels in the current language too (messages.language).
        label = messages.text("warning_label") if self.warning else ""
        where = f"{self.path}:{self.line}:{self.column}: {label}"
        where = f"  {where}" if self.follows else where
        text = f"{where}{self.field}: {self.message}"
        return text + messages.text("hint_label", hint=self.hint) if self.hint else text


class FlowSetInvalid(ConfigError):
    title = "Invalid IVR flows"

    def __init__(self, errors: list[FlowError], warnings: list[FlowError] | None = None) -> None:
        super().__init__("\n".join(map(str, errors)))
        self.errors = errors
        self.warnings = warnings or []


@dataclass(frozen=True, slots=True)
class FlowSet:
    flows: Mapping[str, Flow]
    docs: Mapping[str, YamlDocument] = field(repr=False)
    version: str
    prompts_dir: Path
    # What a person should look at, though the set loads (menu_text's checks).
    warnings: tuple[FlowError, ...] = ()

    def entry_for(self, number: str) -> str | None:
        """The flow that answers calls to ``number``."""
        for name, flow in self.flows.items():
            if number in flow.numbers:
                return name
        return None

    def error(
        self,
        flow: str,
        loc: tuple[str | int, ...],
        message: str,
        hint: str = "",
        *,
        warning: bool = False,
    ) -> FlowError:
        doc = self.docs[flow]
        line, column = doc.locate(loc)
        field = ".".join(map(str, loc))
        return FlowError(doc.path, line, column, field, message, hint, warning)


# A flow file's name ends in one of these; editors save YAML as either.
FLOW_SUFFIXES = (".yaml", ".yml")


def flow_files(paths: Iterable[Path]) -> list[Path]:
    """A directory stands for its ``*.yaml`` and ``*.yml`` files; a file for itself.

    Hidden files are an editor's (Emacs locks a file being edited with a
    ``.#12345.yaml`` link), not flows.
    """
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.suffix in FLOW_SUFFIXES and not p.name.startswith(".")
                )
            )
        else:
            out.append(path)
    return out


def parse_flow_files(paths: Iterable[Path], prompts_dir: Path) -> tuple[FlowSet, list[FlowError]]:
    """Parse and type-check each file; cross-file checks are validate.check's job."""
    errors: list[FlowError] = []
    flows: dict[str, Flow] = {}
    docs: dict[str, YamlDocument] = {}
    first_file: dict[str, Path] = {}
    digest = hashlib.sha256()
    files = flow_files(paths)
    if not files:
        errors.append(
            FlowError(
                Path(", ".join(map(str, paths))),
                1,
                1,
                "(files)",
                messages.text("no_flow_files"),
            )
        )
    for path in files:
        name = path.stem
        try:
            raw = path.read_bytes()
            doc = load_yaml(path)
        except (OSError, ConfigError) as exc:
            errors.append(_file_error(path, str(exc)))
            continue
        digest.update(f"{path.name}\0".encode() + raw + b"\0")
        if doc.root is None:
            errors.append(FlowError(path, 1, 1, "(file)", messages.text("empty")))
            continue
        if name in first_file:
            errors.append(
                FlowError(
                    path,
                    1,
                    1,
                    "(file)",
                    messages.text("defined_twice", name=name, first=first_file[name]),
                    messages.text("one_file_per_flow"),
                )
            )
            continue
        first_file[name] = path
        try:
            flows[name] = Flow.model_validate(doc.data)
            docs[name] = doc
        except ValidationError as exc:
            for err in exc.errors():
                loc = _without_node_tag(tuple(err["loc"]))
                line, column = doc.locate(loc)
                errors.append(
                    FlowError(
                        path,
                        line,
                        column,
                        ".".join(str(p) for p in loc if p != "[key]") or "(top)",
                        messages.pydantic_text(err),
                        _hint_for(err["type"], loc) or doc.comment_hint(line),
                    )
                )
    flow_set = FlowSet(
        MappingProxyType(flows), MappingProxyType(docs), digest.hexdigest()[:12], prompts_dir
    )
    return flow_set, errors


def _without_node_tag(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """pydantic puts the node's type into the path (nodes.menu1.menu.timeout); the file doesn't."""
    if len(loc) >= 3 and loc[0] == "nodes" and loc[2] in NODE_TYPES:
        return (*loc[:2], *loc[3:])
    return loc


def _file_error(path: Path, message: str) -> FlowError:
    # load_yaml's messages already start with "path:line:col: ".
    prefix = f"{path}:"
    if message.startswith(prefix):
        line, column, rest = [*message[len(prefix) :].split(":", 2), "", ""][:3]
        if line.isdigit() and column.isdigit():
            return FlowError(path, int(line), int(column), "(yaml)", rest.strip())
    return FlowError(path, 1, 1, "(file)", message)


def _hint_for(error_type: str, loc: tuple[str | int, ...]) -> str:
    if error_type == "union_tag_invalid":
        return messages.text(
            "hint_types",
            types="play, menu, collect, branch, goto, subflow, return, queue, "
            "voicemail, lookup, transfer, survey, set, hangup",
        )
    if error_type == "extra_forbidden":
        return messages.text("hint_misspelt")
    if error_type == "string_pattern_mismatch" and loc and loc[-1] in ("next", "goto", "target"):
        return messages.text("hint_node_ids")
    return ""
