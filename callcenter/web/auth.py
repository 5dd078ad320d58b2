"""Who is asking: ``Authorization: Bearer <token>`` → the acting user."""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.tickets.service import Actor
from callcenter.tickets.workflow import NotPermitted, Role
from callcenter.users.service import Unauthorized
from callcenter.users.service_token import SERVICE_USER
from callcenter.web.keys import SERVICE_TOKEN, USERS
from callcenter.web.openapi import documented
from callcenter.web.requests import parse_body


async def actor(request: web.Request) -> Actor:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/v1/auth/token)")
    token = token.strip()
    if hmac.compare_digest(token.encode(), request.app[SERVICE_TOKEN].encode()):
        return Actor(SERVICE_USER, Role.OPS)
    return await request.app[USERS].actor(token)


async def allowed(request: web.Request, roles: frozenset[Role], doing: str) -> Actor:
    """The acting user, if their role may do ``doing``; 401 or 403 otherwise."""
    who = await actor(request)
    if who.role not in roles:
        raise NotPermitted(f"{who.role.value} users may not {doing}")
    return who


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
