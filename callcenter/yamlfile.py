"""Load YAML so that validation errors can name file, line and column.

PyYAML's composed node tree keeps each value's position; pydantic reports
error locations as key paths. :func:`locate` joins the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from callcenter.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    path: Path
    data: Any
    root: yaml.Node | None

    def locate(self, loc: tuple[int | str, ...]) -> tuple[int, int]:
        """1-based (line, column) of the deepest node found along ``loc``."""
        node = self.root
        if node is None:
            return (1, 1)
        for part in loc:
            child = _child(node, part)
            if child is None:
                break
            node = child
        return (node.start_mark.line + 1, node.start_mark.column + 1)


def _child(node: yaml.Node, part: int | str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                return value
    if isinstance(node, yaml.SequenceNode) and str(part).isdigit() and int(part) < len(node.value):
        return node.value[int(part)]
    return None


class _PositionedLoader(yaml.SafeLoader):
    """SafeLoader whose value errors (2026-02-30 as a date) carry the value's position."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"invalid value {getattr(node, 'value', '')!r}: {exc}",
                node.start_mark,
            ) from exc


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse one YAML file; syntax errors become ConfigError with file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_PositionedLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        kind = (
            "bad value"
            if isinstance(exc, yaml.constructor.ConstructorError)
            else "YAML syntax error"
        )
        raise ConfigError(f"{where}: {kind}: {exc.problem}") from exc
    if root is not None:
        _refuse_duplicate_keys(path, root)
    return YamlDocument(path=path, data=data, root=root)


def _refuse_duplicate_keys(path: Path, node: yaml.Node) -> None:
    """PyYAML keeps the last of two equal keys silently; a menu with two "1:" is a bug."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    first = seen[key.value].start_mark.line + 1
                    raise ConfigError(
                        f"{path}:{key.start_mark.line + 1}:{key.start_mark.column + 1}: "
                        f"duplicate key {key.value!r} (first at line {first})"
                    )
                seen[key.value] = key
            _refuse_duplicate_keys(path, value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            _refuse_duplicate_keys(path, item)


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
