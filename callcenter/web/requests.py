"""Request bodies validated with pydantic; errors name the field."""

from __future__ import annotations

from typing import TypeVar, get_origin

from aiohttp import web
from pydantic import BaseModel, ValidationError

from callcenter.errors import CallCenterError

M = TypeVar("M", bound=BaseModel)


class RequestInvalid(CallCenterError):
    title = "Invalid request"


def _explain(request: web.Request, exc: ValidationError) -> RequestInvalid:
    fields = "; ".join(
        f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()
    )
    return RequestInvalid(f"{request.method} {request.path}: {fields}")


def parse_query(request: web.Request, model: type[M], ignore: frozenset[str] = frozenset()) -> M:
    """Query parameters into ``model``; a list field takes ``a,b`` or the key repeated."""
    data: dict[str, object] = {}
    for key in request.query.keys() - ignore:
        field = model.model_fields.get(key)
        values = request.query.getall(key)
        if field is not None and get_origin(field.annotation) is list:
            data[key] = [v for value in values for v in value.split(",") if v]
        else:
            data[key] = values[-1]
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


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The JSON body as ``model``, strictly: ``"5"`` is not a number, as the API
    document says (lax coercion would accept what the contract refuses)."""
    raw = await request.read()
    try:
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise _explain(request, exc) from exc
