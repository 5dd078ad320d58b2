"""Request bodies validated with pydantic; errors name the field."""

from __future__ import annotations

import json
import re
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError

from callcenter.errors import CallCenterError

M = TypeVar("M", bound=BaseModel)


class RequestInvalid(CallCenterError):
    """The request breaks the API document's schema (400)."""

    title = "Invalid request"


class RequestUnprocessable(RequestInvalid):
    """The request keeps the schema but breaks a rule it cannot state: dates out
    of order, a category that does not exist (422)."""

    title = "Request not possible"


# pydantic's error types for a model's own validators: rules, not the schema.
_RULES = frozenset({"value_error", "assertion_error"})


def _explain(request: web.Request, exc: ValidationError) -> RequestInvalid:
    errors = exc.errors()
    fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in errors)
    kind = RequestUnprocessable if all(e["type"] in _RULES for e in errors) else RequestInvalid
    return kind(f"{request.method} {request.path}: {fields}")


def _nul_at(value: object, where: str = "") -> str | None:
    """Where a string holds NUL (PostgreSQL stores no NUL in text), if anywhere."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        here = f"{where}.{key}" if where else str(key)
        if "\x00" in str(key):
            return here
        found = _nul_at(item, here)
        if found is not None:
            return found
    return None


def refuse_nul(request: web.Request, data: object, part: str) -> None:
    """400 naming the field when text holds a NUL character."""
    at = _nul_at(data)
    if at is not None:
        raise RequestInvalid(
            f"{request.method} {request.path}: {at or part}: text may not contain NUL (\\u0000)"
        )


# How an integer or a boolean is written in a query, as the API document says
# (pydantic alone also takes "2.0" for 2 and "yes" for true).
_WIRE = {int: re.compile(r"[+-]?[0-9]+"), bool: re.compile(r"true|false")}
_WIRE_NAMES = {int: "an integer", bool: "true or false"}


def _leaves(annotation: Any) -> set[Any]:
    if get_origin(annotation) is Annotated:
        return _leaves(get_args(annotation)[0])
    if get_origin(annotation) in (Union, UnionType):
        return {leaf for arg in get_args(annotation) for leaf in _leaves(arg)}
    return {annotation}


def _wire_type(annotation: Any) -> type | None:
    """int or bool when a field takes only that (``int | None`` too)."""
    kinds = _leaves(annotation) - {type(None)}
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    return kind if kind in _WIRE else None


def parse_query(request: web.Request, model: type[M], ignore: frozenset[str] = frozenset()) -> M:
    """Query parameters into ``model``; a list field takes ``a,b`` or the key repeated."""
    data: dict[str, object] = {}
    for key in request.query.keys() - ignore:
        field = model.model_fields.get(key)
        values = request.query.getall(key)
        if field is not None and get_origin(field.annotation) is list:
            data[key] = [v for value in values for v in value.split(",") if v]
            continue
        data[key] = values[-1]
        wire = _wire_type(field.annotation) if field is not None else None
        if wire is not None and not _WIRE[wire].fullmatch(values[-1]):
            raise RequestInvalid(
                f"{request.method} {request.path}: {key}: {_WIRE_NAMES[wire]}, not {values[-1]!r}"
            )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _explain(request, exc) from exc


def query_parameters(model: type[BaseModel]) -> list[dict[str, object]]:
    """The OpenAPI description of a query model's parameters (prefer
    ``documented(query=model)``): each schema carries the ``$defs`` it refers
    to, which the document builder lifts into its components."""
    schema = model.model_json_schema()
    defs = schema.get("$defs")
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": {**prop, "$defs": defs} if defs and "$ref" in str(prop) else prop,
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _integral(value: Any) -> Any:
    """JSON's ``2.0`` is the integer 2, as in JSON Schema; the rest as parsed."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``, strictly as the API document says: ``"5"`` is
    not a number (lax coercion would accept what the contract refuses), ``5.0``
    is an integer, text holds no NUL."""
    raw = await request.read()
    try:
        data = _integral(json.loads(raw, parse_constant=_reject_constant))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestInvalid(f"{request.method} {request.path}: body is not JSON: {exc}") from exc
    refuse_nul(request, data, "(body)")
    try:
        return model.model_validate_json(json.dumps(data), strict=True)
    except ValidationError as exc:
        raise _explain(request, exc) from exc
