from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import callcenter
from callcenter.web.openapi import build_document, documented, openapi_handler


@documented("List calls in progress", tags=("calls",))
async def list_calls(request: web.Request) -> web.Response:
    return web.json_response([])


@documented(
    "Hang up a call",
    tags=("calls",),
    public=False,
    request_body={"content": {"application/json": {"schema": {"type": "object"}}}},
    responses={"204": {"description": "Hung up"}, "404": {"$ref": "#/components/schemas/Problem"}},
)
async def hangup(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def internal(request: web.Request) -> web.Response:
    return web.Response(text="not in the API")


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/api/calls", list_calls)
    app.router.add_post("/api/calls/{call_id}/hangup", hangup)
    app.router.add_get("/internal/debug", internal)
    app.router.add_get("/openapi.json", openapi_handler)
    return app


def test_documented_routes_are_listed_and_undocumented_skipped():
    paths = build_document(make_app())["paths"]
    assert list(paths) == sorted(["/api/calls", "/api/calls/{call_id}/hangup", "/openapi.json"])
    assert "/internal/debug" not in paths


def test_get_routes_do_not_list_their_implicit_head():
    paths = build_document(make_app())["paths"]
    assert list(paths["/api/calls"]) == ["get"]
    assert list(paths["/api/calls/{call_id}/hangup"]) == ["post"]


def test_public_operation_defaults():
    op = build_document(make_app())["paths"]["/api/calls"]["get"]
    assert op == {
        "summary": "List calls in progress",
        "tags": ["calls"],
        "responses": {"200": {"description": "OK"}},
    }


def test_protected_operation_carries_security_body_and_responses():
    op = build_document(make_app())["paths"]["/api/calls/{call_id}/hangup"]["post"]
    assert op["security"] == [{"bearer": []}]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"type": "object"}
    assert set(op["responses"]) == {"204", "404"}


def test_document_header_and_components():
    doc = build_document(make_app())
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["version"] == callcenter.__version__
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert "Problem" in doc["components"]["schemas"]


def test_app_without_documented_routes_has_no_paths():
    app = web.Application()
    app.router.add_get("/internal/debug", internal)
    assert build_document(app)["paths"] == {}


async def test_openapi_handler_serves_the_document():
    app = make_app()
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/openapi.json")
        assert resp.status == 200
        served = await resp.json()
    assert served == build_document(app)
    assert "/api/calls" in served["paths"]


def test_every_route_of_the_service_is_in_its_document():
    from callcenter.config import load_settings
    from callcenter.web.app import build_app

    app = build_app(load_settings(environ={}))
    documented_paths = build_document(app)["paths"]
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method == "HEAD" or not path.startswith("/api/"):
            continue
        assert route.method.lower() in documented_paths.get(path, {}), (route.method, path)
    search = documented_paths["/api/v1/tickets"]["get"]
    assert {p["name"] for p in search["parameters"]} >= {"status", "colour", "page", "sort"}
