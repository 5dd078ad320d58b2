from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import DBAPIError

from callcenter.ari.errors import AriConflict, AriHttpError, AriNotFound, AriUnavailable
from callcenter.ari.inbox import ChannelGone
from callcenter.calls.state import IllegalTransition
from callcenter.errors import CallCenterError, ConfigError
from callcenter.web.problems import problem_middleware, status_for

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (AriNotFound(404, "GET", "/ari/channels/1", "Channel not found"), 404),
        (AriUnavailable("connection refused"), 503),
        (AriConflict(409, "POST", "/ari/channels/1/answer", "not in Stasis"), 409),
        (AriHttpError(500, "GET", "/ari/asterisk/info", "boom"), 502),
        (ChannelGone(None), 409),
        (ConfigError("hotline.yaml:3:9: http.port: bad"), 400),
        (IllegalTransition("call cannot go from ended to new"), 409),
        (CallCenterError("anything"), 400),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_status_for(exc, status):
    assert status_for(exc) == status


async def _raise_config(request: web.Request) -> web.Response:
    raise ConfigError("queues.yaml:4:3: queues.0.name: Field required")


async def _raise_unavailable(request: web.Request) -> web.Response:
    raise AriUnavailable("Asterisk at http://127.0.0.1:8088 is not reachable")


async def _raise_runtime(request: web.Request) -> web.Response:
    raise RuntimeError("secret internal detail")


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


async def _raise_deadlock(request: web.Request) -> web.Response:
    raise DBAPIError("UPDATE tickets ...", {}, _PgError("40P01"))


async def _raise_db_other(request: web.Request) -> web.Response:
    raise DBAPIError("SELECT ...", {}, _PgError("42P01"))


async def _redirect(request: web.Request) -> web.Response:
    raise web.HTTPFound("/ok")


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


@pytest.fixture
async def client():
    app = web.Application(middlewares=[problem_middleware])
    app.router.add_get("/config", _raise_config)
    app.router.add_get("/ari", _raise_unavailable)
    app.router.add_get("/boom", _raise_runtime)
    app.router.add_get("/redirect", _redirect)
    app.router.add_get("/deadlock", _raise_deadlock)
    app.router.add_get("/db", _raise_db_other)
    app.router.add_get("/ok", _ok)
    async with TestClient(TestServer(app)) as c:
        yield c


async def _problem(client: TestClient, path: str, status: int, method: str = "GET") -> dict:
    resp = await client.request(method, path, allow_redirects=False)
    assert resp.status == status
    assert resp.content_type == PROBLEM
    body = await resp.json(content_type=PROBLEM)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["instance"] == path
    return body


async def test_config_error_is_400_problem(client):
    body = await _problem(client, "/config", 400)
    assert body["title"] == ConfigError.title
    assert body["detail"] == "queues.yaml:4:3: queues.0.name: Field required"


async def test_ari_unavailable_is_503_problem(client):
    body = await _problem(client, "/ari", 503)
    assert body["title"] == AriUnavailable.title
    assert "not reachable" in body["detail"]


async def test_a_lost_database_race_is_a_409_to_retry_and_other_db_errors_stay_hidden(
    client, caplog
):
    body = await _problem(client, "/deadlock", 409)
    assert "try again" in body["detail"]
    with caplog.at_level(logging.ERROR):
        body = await _problem(client, "/db", 500)
    assert "detail" not in body  # nothing of the SQL reaches the caller


async def test_unknown_route_is_404_problem(client):
    body = await _problem(client, "/no/such/page", 404)
    assert body["title"] == "Not Found"


async def test_wrong_method_is_405_problem(client):
    body = await _problem(client, "/ok", 405, method="POST")
    assert body["title"] == "Method Not Allowed"


async def test_unexpected_error_is_500_without_leaking_details(client, caplog):
    with caplog.at_level(logging.ERROR, logger="callcenter.web.problems"):
        body = await _problem(client, "/boom", 500)
    assert body["title"] == "Internal Server Error"
    assert "detail" not in body
    assert "secret internal detail" not in str(body)
    assert "secret internal detail" in caplog.text  # but it is logged


async def test_redirects_and_successes_pass_through(client):
    resp = await client.get("/redirect", allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "/ok"
    resp = await client.get("/ok")
    assert resp.status == 200
    assert await resp.json() == {"ok": True}
