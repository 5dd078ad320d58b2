"""The OpenAPI document, built from the routes that carry a description.

Handlers are documented with :func:`documented`; the builder walks the app's
router, so a route added later appears without a second list to keep in sync.
What can be derived is: path parameters come from the route's path, errors are
``application/problem+json`` with one Problem schema, every pydantic schema
lands in ``components/schemas`` with references that resolve, and the roles a
route admits (``x-roles``) are what the fuzz test holds the service to.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, TypeAdapter

import callcenter
from callcenter.users.roles import Role

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__openapi__"
COMPONENTS = "#/components/schemas/"
REF_TEMPLATE = COMPONENTS + "{model}"
PROBLEM_JSON = "application/problem+json"
ALL_ROLES = frozenset(Role)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details; `detail` names the field or request at fault",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}

# Problems every operation of a kind can answer, without each route saying so.
_INVALID = "The request breaks this document's schema; `detail` names the field"
_UNAUTHORIZED = "No valid bearer token (POST /api/v1/auth/token)"
_FORBIDDEN = "This role may not do this (see x-roles), or not to this record"
_NOT_FOUND = "Nothing by that id, or nothing this user may see"
_UNPROCESSABLE = (
    "Valid by this document, refused by a rule it cannot state (a category that does "
    "not exist, dates out of order, a reason this role owes); `detail` says which"
)
_DESCRIPTIONS = {200: "OK", 201: "Created", 204: "Done; no body"}


class DocumentError(ValueError):
    """The routes' descriptions do not make a valid document (a programming error)."""


def documented(
    summary: str,
    *,
    tags: tuple[str, ...] = (),
    roles: Collection[Role] | None = None,
    public: bool = False,
    body: Any = None,
    query: type[BaseModel] | None = None,
    path: Mapping[str, Any] | None = None,
    response: Any = None,
    status: int = 200,
    content_type: str = "application/json",
    errors: Mapping[int, str | tuple[str, Any]] | None = None,
    description: str | None = None,
    responses: dict[str, Any] | None = None,
    request_body: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Describe a route for the API document.

    ``roles``: who may use it (the fuzz test checks every other role is refused);
    ``public=True``: no token at all. ``body``/``response``: pydantic models or
    types (``list[Model]``); ``query``: a model whose fields are the query
    parameters; ``path``: types of path parameters (the rest are strings).
    ``errors``: problems beyond those derived (400, 401, 403, 404): a description,
    or (description, model) for a problem with more fields.
    ``responses``/``request_body``/``parameters``: raw OpenAPI, merged last.
    """
    if public and roles is not None:
        raise DocumentError(f"{summary!r}: a public route has no roles")

    def wrap(handler: F) -> F:
        setattr(
            handler,
            _ATTR,
            {
                "summary": summary,
                "tags": tuple(tags),
                "roles": None if public or roles is None else frozenset(roles),
                "public": public,
                "body": body,
                "query": query,
                "path": dict(path or {}),
                "response": response,
                "status": status,
                "content_type": content_type,
                "errors": dict(errors or {}),
                "description": description,
                "responses": copy.deepcopy(responses or {}),
                "request_body": copy.deepcopy(request_body),
                "parameters": copy.deepcopy(parameters or []),
                "handler": f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}",
            },
        )
        return handler

    return wrap


def spec_of(handler: Any) -> dict[str, Any] | None:
    return getattr(handler, _ATTR, None)


def route_path(route: web.AbstractRoute) -> str | None:
    info = route.resource.get_info() if route.resource else {}
    return info.get("path") or info.get("formatter")


def path_parameters(path: str) -> list[str]:
    """``/api/v1/calls/{call_id}/hold`` → ``["call_id"]`` (a ``{name:regex}`` too)."""
    return re.findall(r"\{([^}:]+)(?::[^}]*)?\}", path)


def api_routes(app: web.Application) -> Iterator[tuple[str, str, web.AbstractRoute]]:
    """(METHOD, path, route) of every route under /api (HEAD is implied by GET)."""
    for route in app.router.routes():
        path = route_path(route)
        if path and path.startswith("/api/") and route.method not in ("HEAD", "*"):
            yield route.method, path, route


def undocumented(app: web.Application) -> list[str]:
    """API routes without :func:`documented`: each is a hole in the contract."""
    return [f"{m} {p}" for m, p, route in api_routes(app) if spec_of(route.handler) is None]


class _Components:
    """``components/schemas``: pydantic's ``$defs`` lifted here, references rewritten.

    Two different schemas of one name (two ``Action`` enums from two modules)
    both stay: the later one is renamed (``Action2``) with every reference to it.
    """

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}

    def lift(self, schema: Any, where: str = "") -> Any:
        """A raw JSON schema (as ``model_json_schema()`` gives) with its ``$defs``
        moved into the components and ``#/$defs/...`` references pointed there."""
        schema = _rewrite_refs(copy.deepcopy(schema))
        group: dict[str, Any] = {}
        for node in list(_dicts(schema)):
            group.update(node.pop("$defs", {}))
        return self._place(schema, group)

    def of_type(self, tp: Any, mode: str, where: str = "") -> Any:
        """The schema of a type; a pydantic model itself becomes a component."""
        if isinstance(tp, dict):
            return self.lift(tp, where)
        schema = TypeAdapter(tp).json_schema(ref_template=REF_TEMPLATE, mode=mode)  # type: ignore[arg-type]
        group = schema.pop("$defs", {})
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            group[tp.__name__] = schema
            schema = {"$ref": REF_TEMPLATE.format(model=tp.__name__)}
        return self._place(schema, group)

    def model_properties(self, model: type[BaseModel]) -> tuple[dict[str, Any], set[str]]:
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        schema = self._place(schema, schema.pop("$defs", {}))
        return schema.get("properties", {}), set(schema.get("required", ()))

    def _place(self, top: Any, group: dict[str, Any]) -> Any:
        _drop_null_defaults([top, group])
        renames: dict[str, str] = {}
        for name, sub in group.items():
            final, n = name, 1
            while final in self.schemas and self.schemas[final] != sub:
                n += 1
                final = f"{name}{n}"
            if final != name:
                renames[name] = final
        if renames:
            for node in _dicts([top, group]):
                ref = node.get("$ref")
                if isinstance(ref, str) and ref.removeprefix(COMPONENTS) in renames:
                    node["$ref"] = COMPONENTS + renames[ref.removeprefix(COMPONENTS)]
        for name, sub in group.items():
            self.schemas[renames.get(name, name)] = sub
        return top


def _dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in list(node.values()):
            yield from _dicts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _dicts(item)


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return (
        kind == "null"
        or (isinstance(kind, list) and "null" in kind)
        or any(_allows_null(o) for o in schema.get("anyOf", ()) if isinstance(o, dict))
    )


def _drop_null_defaults(node: Any) -> None:
    """``x: str | SkipJsonSchema[None] = None`` reads "may be left out", not
    "may be null": a null default the schema refuses is dropped (it is invalid)."""
    for item in _dicts(node):
        if "default" in item and item["default"] is None and not _allows_null(item):
            del item["default"]


def _rewrite_refs(node: Any) -> Any:
    for item in _dicts(node):
        ref = item.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            item["$ref"] = COMPONENTS + ref.removeprefix("#/$defs/")
    return node


def _query_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A query value is absent or a string: ``X | None`` is just ``X`` here."""
    prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
    options = prop.get("anyOf")
    if isinstance(options, list):
        rest = [o for o in options if o != {"type": "null"}]
        if len(rest) == 1:
            prop.pop("anyOf")
            prop = {**rest[0], **prop}
    return prop


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": COMPONENTS + "Problem"}}},
    }


def _operation(
    spec: dict[str, Any], method: str, path: str, components: _Components
) -> dict[str, Any]:
    where = f"{method} {path}"
    op: dict[str, Any] = {
        "operationId": spec["handler"],
        "summary": spec["summary"],
        "tags": list(spec["tags"]),
    }
    secured = not spec["public"]
    roles = spec["roles"]
    if secured:
        allowed = sorted(r.value for r in (roles if roles is not None else ALL_ROLES))
        op["security"] = [{"bearer": []}]
        op["x-roles"] = allowed
        op["description"] = f"Roles: {', '.join(allowed)}."
    else:
        op["security"] = []
        op["description"] = "Open: no token."
    if spec["description"]:
        op["description"] = f"{spec['description']}\n\n{op['description']}"

    # Parameters: raw ones first, then the query model's, then every path
    # parameter of the route that is not declared yet (a string unless typed).
    params: list[dict[str, Any]] = [components.lift(p, where) for p in spec["parameters"]]
    for param in params:
        if param.get("in") == "query" and isinstance(param.get("schema"), dict):
            param["schema"] = _query_schema(param["schema"])
    if spec["query"] is not None:
        props, required = components.model_properties(spec["query"])
        params += [
            {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": _query_schema(prop),
                **({"description": prop["description"]} if "description" in prop else {}),
            }
            for name, prop in props.items()
        ]
    names = path_parameters(path)
    unknown = set(spec["path"]) - set(names)
    if unknown:
        raise DocumentError(f"{where}: no path parameter {sorted(unknown)} in the route")
    declared = {(p.get("in"), p.get("name")) for p in params}
    params += [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": components.of_type(spec["path"][name], "validation", where)
            if name in spec["path"]
            else {"type": "string", "minLength": 1},
        }
        for name in names
        if ("path", name) not in declared
    ]
    if params:
        op["parameters"] = params

    if spec["request_body"] is not None:
        op["requestBody"] = components.lift(spec["request_body"], where)
    elif spec["body"] is not None:
        schema = components.of_type(spec["body"], "validation", where)
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}

    responses: dict[str, Any] = {}
    status = spec["status"]
    if spec["response"] is not None:
        schema = components.of_type(spec["response"], "serialization", where)
        responses[str(status)] = {
            "description": _DESCRIPTIONS.get(status, "OK"),
            "content": {spec["content_type"]: {"schema": schema}},
        }
    elif status == 204:
        responses["204"] = {"description": _DESCRIPTIONS[204]}
    if params or "requestBody" in op:
        responses["400"] = _problem(_INVALID)
    if "requestBody" in op or any(p.get("in") == "query" for p in params):
        responses["422"] = _problem(_UNPROCESSABLE)
    if secured:
        responses["401"] = _problem(_UNAUTHORIZED)
        responses["403"] = _problem(_FORBIDDEN)
    if names:
        responses["404"] = _problem(_NOT_FOUND)
    for code, error in spec["errors"].items():
        text, model = error if isinstance(error, tuple) else (error, None)
        responses[str(code)] = _problem(text)
        if model is not None:
            schema = components.of_type(model, "serialization", where)
            responses[str(code)]["content"] = {PROBLEM_JSON: {"schema": schema}}
    for code, raw in spec["responses"].items():
        raw = components.lift(raw, where)
        if int(code) >= 400 and "content" not in raw:
            raw = {**_problem(raw.get("description", "")), **raw}
        responses[code] = {**responses.get(code, {}), **raw}
    op["responses"] = dict(sorted(responses.items()))
    return op


def build_document(app: web.Application) -> dict[str, Any]:
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        spec = spec_of(route.handler)
        path = route_path(route)
        if spec is None or path is None or route.method in ("HEAD", "*"):
            continue
        paths.setdefault(path, {})[route.method.lower()] = _operation(
            spec, route.method, path, components
        )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "12345 hotline call centre API",
            "version": callcenter.__version__,
            "description": (
                "Send `Authorization: Bearer <token>` (POST /api/v1/auth/token) except where "
                "an operation says it is open; `x-roles` lists the roles an operation admits. "
                "Errors are application/problem+json. Text may not contain NUL characters."
            ),
        },
        "security": [{"bearer": []}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": dict(sorted(components.schemas.items())),
        },
    }


@documented(
    "This document",
    tags=("meta",),
    public=True,
    response={"type": "object", "description": "OpenAPI 3.1"},
)
async def openapi_handler(request: web.Request) -> web.Response:
    return web.json_response(build_document(request.app))
