"""Who is asking: ``Authorization: Bearer <token>`` → the acting user."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.tickets.service import Actor
from callcenter.users.service import Unauthorized
from callcenter.web.keys import USERS
from callcenter.web.openapi import documented
from callcenter.web.requests import parse_body


async def actor(request: web.Request) -> Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/v1/auth/token)")
    return await request.app[USERS].actor(token.strip())


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


@documented(
    "Exchange a user name and password for a bearer token",
    tags=("auth",),
    request_body={"content": {"application/json": {"schema": Login.model_json_schema()}}},
    responses={"200": {"description": "{token}"}, "401": {"description": "Wrong"}},
)
async def token(request: web.Request) -> web.Response:
    body = await parse_body(request, Login)
    return web.json_response(
        {"token": await request.app[USERS].token(body.username, body.password)}
    )
