from __future__ import annotations

import enum
import uuid
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate
from pydantic import BaseModel, ConfigDict, Field

import callcenter
from callcenter.users.roles import Role
from callcenter.web.openapi import (
    DocumentError,
    build_document,
    documented,
    openapi_handler,
    spec_of,
    undocumented,
)
from callcenter.web.requests import RequestInvalid, parse_body, query_parameters


class Mode(enum.StrEnum):
    BLIND = "blind"
    CONFERENCE = "conference"


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(pattern=r"^[0-9]{1,8}$")
    mode: Mode = Mode.BLIND


class Transferred(BaseModel):
    to: str
    mode: Mode


class Page(BaseModel):
    page: int = Field(1, ge=1)
    q: str = Field(min_length=1)
    mode: Mode | None = None


class OtherMode(enum.StrEnum):  # same name as Mode's schema once renamed below
    A = "a"


OtherMode.__name__ = OtherMode.__qualname__ = "Mode"


class Other(BaseModel):
    mode: OtherMode


@documented("List calls in progress", tags=("calls",), public=True, response=list[Transferred])
async def list_calls(request: web.Request) -> web.Response:
    return web.json_response([])


@documented(
    "Transfer a call",
    tags=("calls",),
    roles={Role.AGENT, Role.ADMIN},
    path={"call_id": uuid.UUID},
    body=Transfer,
    response=Transferred,
    errors={409: "Nobody answered"},
)
async def transfer(request: web.Request) -> web.Response:
    return web.json_response({})


@documented("Search", roles={Role.AUDITOR}, query=Page, response=Other)
async def search(request: web.Request) -> web.Response:
    return web.json_response({})


@documented(
    "Old style: raw OpenAPI",
    roles=frozenset(Role),
    request_body={"content": {"application/json": {"schema": Transfer.model_json_schema()}}},
    responses={"204": {"description": "Hung up"}, "409": {"description": "Too late"}},
    parameters=query_parameters(Page),
)
async def hangup(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def internal(request: web.Request) -> web.Response:
    return web.Response(text="not in the API")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/api/calls", list_calls)
    app.router.add_post("/api/calls/{call_id}/transfer", transfer)
    app.router.add_post("/api/calls/{call_id}/{leg:[a-z]+}/hangup", hangup)
    app.router.add_get("/api/search", search)
    app.router.add_get("/internal/debug", internal)
    app.router.add_get("/openapi.json", openapi_handler)
    return app


def resolve(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def test_the_document_is_valid_openapi_and_every_reference_resolves():
    doc = build_document(make_app())
    validate(doc)
    assert refs(doc) and all(ref.startswith("#/components/schemas/") for ref in refs(doc))
    for ref in refs(doc):
        resolve(doc, ref)
    assert "$defs" not in str(doc)


def test_documented_routes_are_listed_undocumented_and_head_skipped():
    app = make_app()
    paths = build_document(app)["paths"]
    assert set(paths) == {
        "/api/calls",
        "/api/calls/{call_id}/transfer",
        "/api/calls/{call_id}/{leg}/hangup",
        "/api/search",
        "/openapi.json",
    }
    assert list(paths["/api/calls"]) == ["get"]
    app.router.add_get("/api/v1/forgotten", internal)
    assert undocumented(app) == ["GET /api/v1/forgotten"]


def test_path_parameters_come_from_the_route_typed_where_declared():
    paths = build_document(make_app())["paths"]
    [call_id] = paths["/api/calls/{call_id}/transfer"]["post"]["parameters"]
    assert call_id == {
        "name": "call_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }
    hangup_params = paths["/api/calls/{call_id}/{leg}/hangup"]["post"]["parameters"]
    path_params = {p["name"]: p["schema"] for p in hangup_params if p["in"] == "path"}
    assert path_params == {
        "call_id": {"type": "string", "minLength": 1},
        "leg": {"type": "string", "minLength": 1},
    }


def test_a_path_type_for_a_parameter_the_route_lacks_is_an_error():
    @documented("x", roles={Role.ADMIN}, path={"nope": int})
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_get("/api/things/{thing}", handler)
    with pytest.raises(DocumentError, match="nope"):
        build_document(app)


def test_bodies_and_nested_models_land_in_components():
    doc = build_document(make_app())
    op = doc["paths"]["/api/calls/{call_id}/transfer"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Transfer"}
    transfer_schema = doc["components"]["schemas"]["Transfer"]
    assert transfer_schema["additionalProperties"] is False
    assert transfer_schema["properties"]["mode"]["$ref"] == "#/components/schemas/Mode"
    ok = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/Transferred"}
    listed = doc["paths"]["/api/calls"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Transferred"},
    }


def test_raw_model_json_schema_with_defs_is_lifted():
    doc = build_document(make_app())
    op = doc["paths"]["/api/calls/{call_id}/{leg}/hangup"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["mode"]["$ref"] == "#/components/schemas/Mode"
    mode = next(p for p in op["parameters"] if p["name"] == "mode")
    assert refs(mode) == ["#/components/schemas/Mode"]


def test_two_different_schemas_of_one_name_are_both_kept():
    doc = build_document(make_app())
    schemas = doc["components"]["schemas"]
    assert schemas["Mode"]["enum"] == ["blind", "conference"]
    assert schemas["Mode2"]["enum"] == ["a"]
    assert schemas["Other"]["properties"]["mode"] == {"$ref": "#/components/schemas/Mode2"}


def test_query_models_become_parameters_with_their_requirement():
    op = build_document(make_app())["paths"]["/api/search"]["get"]
    params = {p["name"]: p for p in op["parameters"]}
    assert set(params) == {"page", "q", "mode"}
    assert params["q"]["required"] is True and params["page"]["required"] is False
    assert params["page"]["schema"] == {"type": "integer", "minimum": 1}
    # A query value is absent or a string: never null.
    assert params["mode"]["schema"] == {"$ref": "#/components/schemas/Mode"}


def test_secured_operations_carry_bearer_roles_and_problems():
    doc = build_document(make_app())
    op = doc["paths"]["/api/calls/{call_id}/transfer"]["post"]
    assert op["security"] == [{"bearer": []}]
    assert op["x-roles"] == ["admin", "agent"]
    assert "admin, agent" in op["description"]
    assert set(op["responses"]) == {"200", "400", "401", "403", "404", "409", "422"}
    for code in ("400", "401", "403", "404", "409", "422"):
        content = op["responses"][code]["content"]
        assert content == {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        }
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert doc["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status"]


def test_public_operations_need_no_token_and_answer_no_401():
    op = build_document(make_app())["paths"]["/api/calls"]["get"]
    assert op["security"] == []
    assert "x-roles" not in op
    assert set(op["responses"]) == {"200"}


def test_raw_error_responses_get_the_problem_body():
    op = build_document(make_app())["paths"]["/api/calls/{call_id}/{leg}/hangup"]["post"]
    assert op["responses"]["204"] == {"description": "Hung up"}
    assert op["responses"]["409"]["description"] == "Too late"
    assert "application/problem+json" in op["responses"]["409"]["content"]


def test_public_with_roles_is_refused():
    with pytest.raises(DocumentError):
        documented("x", public=True, roles={Role.ADMIN})


def test_document_header():
    doc = build_document(make_app())
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["version"] == callcenter.__version__
    assert doc["security"] == [{"bearer": []}]


async def test_openapi_handler_serves_the_document():
    app = make_app()
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/openapi.json")
        assert resp.status == 200
        served = await resp.json()
    assert served == build_document(app)


class Strict(BaseModel):
    n: int
    when: uuid.UUID


async def test_bodies_are_read_strictly_as_the_document_says():
    """``"5"`` is not an integer in the document; lax parsing would accept it,
    and the fuzz test would find the service accepting what its contract refuses."""

    class Req:
        method, path = "POST", "/x"

        def __init__(self, raw: bytes) -> None:
            self.raw = raw

        async def read(self) -> bytes:
            return self.raw

    good = await parse_body(Req(b'{"n": 5, "when": "%s"}' % str(uuid.uuid4()).encode()), Strict)
    assert good.n == 5
    for bad in (b'{"n": "5", "when": "%s"}' % str(uuid.uuid4()).encode(), b"", b"{", b"\xff"):
        with pytest.raises(RequestInvalid, match=r"POST /x"):
            await parse_body(Req(bad), Strict)


# The service's own document ------------------------------------------------------------

OPEN = {
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/api/openapi.json"),
    ("post", "/api/v1/auth/token"),
    ("get", "/api/v1/public/tickets/{query_code}"),
}


@pytest.fixture(scope="module")
def service_app() -> web.Application:
    from callcenter.config import load_settings
    from callcenter.web.app import build_app

    return build_app(load_settings(environ={}))


def test_the_service_document_passes_the_validator(service_app):
    validate(build_document(service_app))


def test_every_api_route_of_the_service_is_documented(service_app):
    assert undocumented(service_app) == []


def test_every_protected_route_says_which_roles_it_admits(service_app):
    unsaid = [
        f"{route.method} {route.resource.canonical}"
        for route in service_app.router.routes()
        if route.method != "HEAD"
        and (spec := spec_of(route.handler)) is not None
        and not spec["public"]
        and spec["roles"] is None
    ]
    assert unsaid == [], "add roles=... to documented(...)"


def test_only_the_intended_routes_are_open(service_app):
    doc = build_document(service_app)
    open_ops = {
        (method, path)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if op["security"] == []
    }
    assert open_ops == OPEN


def test_every_answer_of_the_service_is_described_with_its_body(service_app):
    doc = build_document(service_app)
    ids = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            ids.append(op["operationId"])
            for code, response in op["responses"].items():
                where = f"{method.upper()} {path} {code}"
                assert response.get("description"), where
                if code == "204":
                    assert "content" not in response, where
                elif code.startswith("2"):
                    assert response.get("content"), f"{where}: no body schema (response=...)"
                    for media in response["content"].values():
                        assert media.get("schema"), where
                else:
                    assert any(
                        media in response.get("content", {})
                        for media in ("application/problem+json", "application/json")
                    ), where
            assert any(code.startswith("2") for code in op["responses"]), f"{method} {path}"
    assert len(ids) == len(set(ids)), "operationIds are unique"
    for ref in refs(doc):
        resolve(doc, ref)


def test_path_parameters_of_the_service_are_all_declared(service_app):
    doc = build_document(service_app)
    for path, ops in doc["paths"].items():
        names = set(path.replace("}", "{").split("{")[1::2])
        for method, op in ops.items():
            declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
            assert declared == names, f"{method} {path}"


def test_ticket_search_lists_its_filters(service_app):
    search = build_document(service_app)["paths"]["/api/v1/tickets"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"status", "colour", "page", "sort"}
