"""Load YAML so that validation errors can name file, line and column.

PyYAML's composed node tree keeps each value's position; pydantic reports
error locations as key paths. :func:`locate` joins the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from callcenter.errors import ConfigError
from callcenter.ivr.messages import text

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    path: Path
    data: Any
    root: yaml.Node | None
    # The text, line by line: what YAML dropped (a comment) is still visible here.
    lines: tuple[str, ...] = ()

    def comment_hint(self, line: int) -> str:
        """A hint when ``line`` (1-based) has a value that YAML read as a comment."""
        content = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return text("hint_comment_value") if _COMMENT_VALUE.search(content) else ""

    def locate(self, loc: tuple[int | str, ...]) -> tuple[int, int]:
        """1-based (line, column) of the deepest node found along ``loc``."""
        node = self.root
        if node is None:
            return (1, 1)
        key: yaml.Node | None = None
        for part in loc:
            if part == "[key]" and key is not None:
                # pydantic's path to a bad mapping key: the key itself, not its value.
                node = key
                break
            found = _child(node, part)
            if found is None:
                break
            key, node = found
        return (node.start_mark.line + 1, node.start_mark.column + 1)


def _child(node: yaml.Node, part: int | str) -> tuple[yaml.Node | None, yaml.Node] | None:
    """(the key node or None, the value node) of ``part`` below ``node``."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return key, value
    if isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
        return None, node.value[int(part)]
    return None


# Limits that keep a broken or hostile file from hanging or crashing the loader
# (documented in ivr_flows/README.md). Real flows are a few KiB, 7 levels deep.
MAX_BYTES = 256 * 1024
MAX_DEPTH = 32
# Values (scalars, lists, mappings, keys included), also after expanding aliases:
# parsing stops there, so a file of tiny values cannot take seconds. A flow of
# 1,000 nodes has about 10,000.
MAX_VALUES = 30_000


class _PositionedLoader(yaml.SafeLoader):
    """SafeLoader with bounded nesting, counted aliases, and positioned value errors."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.values = 0
        self.aliases: list[yaml.Mark] = []

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # The composer recurses once per level: refuse before Python's stack runs out.
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in the stubs
        if isinstance(event, yaml.AliasEvent):
            # The pure-Python parser's marks (SafeLoader), never the C one's or None.
            self.aliases.append(cast(yaml.Mark, event.start_mark))
        else:
            self.values += 1
            if self.values > MAX_VALUES:
                raise _Refused(event.start_mark, text("too_many_values", limit=MAX_VALUES))
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _Refused(event.start_mark, text("too_deep", limit=MAX_DEPTH))
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise _BadValue(
                None,
                None,
                text("bad_value", value=getattr(node, "value", ""), reason=exc),
                node.start_mark,
            ) from exc


class _BadValue(yaml.constructor.ConstructorError):
    """A value YAML cannot build (2026-02-30): reported as it is, without a syntax hint."""


class _Refused(Exception):
    def __init__(self, mark: yaml.Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _where(path: Path, line: int, column: int) -> str:
    return f"{path}:{line}:{column}"


def _read(path: Path) -> str:
    """The file's text; size, encoding and binary refused with file:line."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: {text('cannot_read', reason=exc.strerror)}") from exc
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{_where(path, 1, 1)}: {text('too_large', limit=_size(MAX_BYTES))}")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(f"{_where(path, 1, 1)}: {text('utf16')}")
    nul = raw.find(b"\0")
    if nul >= 0:
        raise ConfigError(f"{_where(path, *_position(raw, nul))}: {text('binary')}")
    try:
        # A BOM (Windows Notepad) is not part of the text; CRLF is read as LF by YAML.
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = f"0x{raw[exc.start]:02X}"
        raise ConfigError(
            f"{_where(path, *_position(raw, exc.start))}: {text('not_utf8', byte=byte)}"
        ) from exc


def _size(n: int) -> str:
    return f"{n // 1024 // 1024} MiB" if n >= 1024 * 1024 else f"{n // 1024} KiB"


def _position(raw: bytes, offset: int) -> tuple[int, int]:
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace")) + 1
    return raw.count(b"\n", 0, offset) + 1, column


# "key: #1" or "- #1": YAML reads an empty value and a comment.
_COMMENT_VALUE = re.compile(r"(:|^\s*-)\s+#")
_HASH_IN_BRACKETS = re.compile(r"[\[{,]\s*#")
_HASH_KEY = re.compile(r"^(\s+)#\s*:")
_CHOICES = re.compile(r"^(\s*)choices\s*:\s*(#.*)?$")


_HASH_TERMINATOR = re.compile(r"^(\s*)terminator:\s+#")


def _refuse_hash_keys(path: Path, lines: list[str]) -> None:
    """An unquoted ``#:`` under ``choices:`` is a comment to YAML: the menu loses the key.
    So is ``terminator: #``: the collect would silently have no terminator."""
    for number, line in enumerate(lines):
        terminator = _HASH_TERMINATOR.match(line)
        if terminator:
            column = line.index("#") + 1
            raise ConfigError(f"{_where(path, number + 1, column)}: {text('hash_terminator')}")
        hit = _HASH_KEY.match(line)
        if not hit:
            continue
        indent = len(hit.group(1))
        for above in reversed(lines[:number]):
            stripped = above.strip()
            if not stripped or stripped.startswith("#"):
                continue
            above_indent = len(above) - len(above.lstrip())
            if above_indent < indent:
                if _CHOICES.match(above):
                    raise ConfigError(f"{_where(path, number + 1, indent + 1)}: {text('hash_key')}")
                break


def _hint(exc: yaml.MarkedYAMLError, lines: list[str]) -> str:
    problem = exc.problem or ""
    mark = exc.problem_mark
    line = lines[mark.line] if mark and mark.line < len(lines) else ""
    if "\t" in problem or line[: len(line) - len(line.lstrip())].count("\t"):
        return text("hint_tab")
    if "expected <block end>" in problem:
        return text("hint_block_end")
    if "mapping values are not allowed" in problem:
        return text("hint_colon")
    if problem.startswith(("expected ',' or ']'", "expected ',' or '}'")):
        start = exc.context_mark
        opened = lines[start.line] if start and start.line < len(lines) else ""
        # "[a, #b]": YAML reads the # as a comment, so the rest of the line is gone.
        return text(
            "hint_hash_in_brackets" if _HASH_IN_BRACKETS.search(opened) else "hint_unclosed"
        )
    if (
        "cannot start any token" in problem
        or "undefined alias" in problem
        or "could not determine a constructor for the tag" in problem
        or (exc.context or "").startswith(("while scanning an alias", "while scanning an anchor"))
    ):
        return text("hint_quote")
    return ""


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse one YAML file; every problem becomes ConfigError with file:line.

    Nothing in the file can crash or hang this: size, nesting and alias expansion
    are bounded (MAX_BYTES, MAX_DEPTH, MAX_VALUES).
    """
    source = _read(path)
    lines = source.splitlines()
    _refuse_hash_keys(path, lines)
    try:
        # The reader refuses control characters in the whole text at once.
        loader = _PositionedLoader(source)
    except yaml.reader.ReaderError as exc:
        raise ConfigError(_unacceptable(path, source, exc)) from None
    try:
        root = loader.get_single_node()
        if root is not None:
            _check_aliases(loader.aliases, root)
            _refuse_duplicate_keys(path, root)
        data = loader.construct_document(root) if root is not None else None
    except _Refused as exc:
        raise ConfigError(
            f"{_where(path, exc.mark.line + 1, exc.mark.column + 1)}: {exc.message}"
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = _where(path, mark.line + 1, mark.column + 1) if mark else str(path)
        if isinstance(exc, _BadValue):
            message = exc.problem or ""
        else:
            message = text("syntax", problem=exc.problem)
            hint = _hint(exc, lines)
            if hint:
                message += text("hint_label", hint=hint)
        raise ConfigError(f"{where}: {message}") from exc
    except yaml.YAMLError as exc:  # no position known; still a message, never a crash
        raise ConfigError(f"{_where(path, 1, 1)}: {text('syntax', problem=exc)}") from exc
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, root=root, lines=tuple(lines))


def _unacceptable(path: Path, source: str, exc: yaml.reader.ReaderError) -> str:
    """A control character (pasted from a terminal or a word processor) at its place."""
    at = exc.position
    line = source.count("\n", 0, at) + 1
    column = at - (source.rfind("\n", 0, at) + 1) + 1
    code = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
    return f"{_where(path, line, column)}: {text('control_char', code=code)}"


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_aliases(aliases: list[yaml.Mark], root: yaml.Node) -> None:
    """Refuse an alias that contains itself, or aliases that multiply into a bomb.

    Counted over the node graph once per node (iteratively, memoised), so a
    "billion laughs" of a few lines is refused in microseconds, not expanded.
    """
    if not aliases:
        return
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in _children(node))
            if size[key] > MAX_VALUES:
                raise _Refused(aliases[0], text("alias_too_big", limit=MAX_VALUES))
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                name = next((a for m in aliases if (a := _alias_name(m))), "")
                raise _Refused(node.start_mark, text("alias_recursive", name=name))
            if id(child) not in size:
                stack.append((child, False))


def _alias_name(mark: yaml.Mark) -> str:
    found = re.match(r"\*([^\s,\]\}]+)", mark.buffer[mark.pointer :] if mark.buffer else "")
    return found.group(1) if found else ""


def _refuse_duplicate_keys(path: Path, root: yaml.Node) -> None:
    """PyYAML keeps the last of two equal keys silently; a menu with two "1:" is a bug.

    Iterative, and each node once: a node shared through aliases is checked once.
    """
    seen_nodes: set[int] = set()
    duplicates: list[tuple[yaml.Node, yaml.Node]] = []
    todo = [root]
    while todo:
        node = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for key, _ in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.value in seen:
                        duplicates.append((key, seen[key.value]))
                    else:
                        seen[key.value] = key
        todo.extend(_children(node))
    if duplicates:
        key, first = min(duplicates, key=lambda d: d[0].start_mark.index)
        raise ConfigError(
            f"{_where(path, key.start_mark.line + 1, key.start_mark.column + 1)}: "
            + text("duplicate_key", key=key.value, first=first.start_mark.line + 1)
        )


def format_error_line(doc: YamlDocument, err: ErrorDetails) -> str:
    """``file:line:col: field.path: message`` for one pydantic error."""
    loc = tuple(err["loc"])
    where = f"{doc.path}:{':'.join(map(str, doc.locate(loc)))}" if doc.root else str(doc.path)
    field = ".".join(str(p) for p in loc) or "(top level)"
    return f"{where}: {field}: {err['msg']}"


def format_validation_error(doc: YamlDocument, exc: ValidationError) -> str:
    """One line per problem."""
    return "\n".join(format_error_line(doc, err) for err in exc.errors())


def validate_document(doc: YamlDocument, model: type[M], data: Any = None) -> M:
    """Validate ``doc`` (or ``data`` derived from it) into ``model``."""
    try:
        return model.model_validate(doc.data if data is None else data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(doc, exc)) from exc
