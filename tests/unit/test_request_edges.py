"""Requests at the edge, as the API document states them: bodies read strictly
(``"5"`` is no integer, ``5.0`` is), text without NUL (PostgreSQL stores none:
it was a 500), 400 for what breaks the schema and 422 for what breaks a rule
the schema cannot state."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, ConfigDict, Field, model_validator

from callcenter.tickets.errors import TicketInvalid
from callcenter.tickets.knowledge import KbInvalid
from callcenter.users.errors import UserError
from callcenter.web.guards import refuse_nul_middleware
from callcenter.web.problems import problem_middleware, status_for
from callcenter.web.requests import (
    RequestInvalid,
    RequestUnprocessable,
    parse_body,
    parse_query,
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    n: int = Field(0, ge=0, le=10)
    x: float = 0.0
    tags: list[str] = Field(default_factory=list)
    meta: dict[str, str] = Field(default_factory=dict)


class Span(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date | None = None
    end: date | None = None
    page: int = 1
    size: Annotated[int, Field(ge=1)] | None = None
    full: bool = False

    @model_validator(mode="after")
    def _in_order(self) -> Span:
        if self.start and self.end and self.start > self.end:
            raise ValueError("start is after end")
        return self


async def body_handler(request: web.Request) -> web.Response:
    return web.json_response((await parse_body(request, Body)).model_dump())


async def query_handler(request: web.Request) -> web.Response:
    return web.json_response(parse_query(request, Span).model_dump(mode="json"))


async def echo(request: web.Request) -> web.Response:
    return web.json_response({"name": request.match_info["name"]})


@pytest.fixture
async def client():
    app = web.Application(middlewares=[problem_middleware, refuse_nul_middleware])
    app.router.add_post("/body", body_handler)
    app.router.add_get("/span", query_handler)
    app.router.add_get("/things/{name}", echo)
    async with TestClient(TestServer(app)) as client:
        yield client


async def problem_of(resp) -> dict:
    assert resp.content_type == "application/problem+json"
    return await resp.json()


async def test_a_whole_float_is_an_integer_as_in_json_schema(client):
    resp = await client.post("/body", data=b'{"n": 2.0, "x": 3}')
    assert resp.status == 200
    assert await resp.json() == {"n": 2, "x": 3.0, "tags": [], "meta": {}}


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (b'{"n": "5"}', "n"),  # lax parsing took it
        (b'{"n": 2.5}', "n"),
        (b'{"n": true}', "n"),
        (b'{"x": NaN}', "not JSON"),
        (b'{"n": 11}', "n"),
        (b"", "not JSON"),
        (b"\xff", "not JSON"),
        (b'{"extra": 1}', "extra"),
    ],
)
async def test_what_breaks_the_schema_is_400_naming_it(client, raw, named):
    resp = await client.post("/body", data=raw)
    assert resp.status == 400
    assert named in (await problem_of(resp))["detail"]


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (b'{"tags": ["ok", "bad\\u0000"]}', "tags.1"),
        (b'{"meta": {"k": "v\\u0000"}}', "meta.k"),
        (b'{"meta": {"k\\u0000": "v"}}', "meta.k"),
    ],
)
async def test_text_with_nul_in_a_body_is_400_naming_the_field(client, raw, named):
    resp = await client.post("/body", data=raw)
    assert resp.status == 400
    detail = (await problem_of(resp))["detail"]
    assert named in detail and "NUL" in detail


async def test_nul_in_a_path_or_query_is_400(client):
    resp = await client.get("/things/a%00b")
    assert resp.status == 400 and "path" in (await problem_of(resp))["detail"]
    resp = await client.get("/span", params={"start": "2024-01-01\x00"})
    assert resp.status == 400 and "start" in (await problem_of(resp))["detail"]
    assert (await client.get("/things/ab")).status == 200


async def test_a_rule_the_schema_cannot_state_is_422_and_the_schema_400(client):
    resp = await client.get("/span", params={"start": "2024-02-01", "end": "2024-01-01"})
    assert resp.status == 422
    assert "start is after end" in (await problem_of(resp))["detail"]
    resp = await client.get("/span", params={"start": "2024-02-01", "page": "x"})
    assert resp.status == 400
    resp = await client.get("/span", params={"start": "2024-02-01", "end": "2024-03-01"})
    assert resp.status == 200


def test_semantic_refusals_of_the_services_are_422():
    for error in (
        RequestUnprocessable("x"),
        TicketInvalid("unknown category"),
        KbInvalid("x"),
        UserError("seat: only admin, supervisor users have one"),
    ):
        assert status_for(error) == 422, error
    assert status_for(RequestInvalid("x")) == 400


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page": "0.0"}, "page"),  # pydantic alone reads 0
        ({"size": "2.0"}, "size"),
        ({"page": "1e2"}, "page"),
        ({"full": "yes"}, "full"),  # pydantic alone reads true
        ({"full": "1"}, "full"),
    ],
)
async def test_query_numbers_and_booleans_are_written_as_the_document_says(client, params, named):
    resp = await client.get("/span", params=params)
    assert resp.status == 400
    assert named in (await problem_of(resp))["detail"]


async def test_query_numbers_and_booleans_in_their_form_are_read(client):
    resp = await client.get("/span", params={"page": "-3", "size": "7", "full": "true"})
    assert resp.status == 200
    assert await resp.json() == {"start": None, "end": None, "page": -3, "size": 7, "full": True}
