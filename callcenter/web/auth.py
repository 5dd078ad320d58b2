"""Who is asking: ``Authorization: Bearer <token>`` → the acting user."""

from __future__ import annotations

import hmac

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.tickets.workflow import NotPermitted
from callcenter.users.roles import Actor, Role
from callcenter.users.service import Unauthorized
from callcenter.users.service_token import SERVICE_USER
from callcenter.web.client import client_address, limit_key
from callcenter.web.keys import SERVICE_TOKEN, SETTINGS, USERS
from callcenter.web.openapi import documented
from callcenter.web.requests import parse_body
from callcenter.web.schemas import TokenOut


def bearer(request: web.Request) -> str:
    """The token the request presents."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send Authorization: Bearer <token> (POST /api/v1/auth/token)")
    return token.strip()


async def actor(request: web.Request) -> Actor:
    token = bearer(request)
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
    public=True,
    body=Login,
    response=TokenOut,
    responses={
        "200": {"description": "A bearer token for this user"},
        "400": {"description": "Invalid body; the field is named"},
        "401": {"description": "Wrong user name or password (which one is not said)"},
        "429": {"description": "Too many failed logins for this name or address; Retry-After"},
        "503": {"description": "Too many logins at once; Retry-After"},
    },
)
async def token(request: web.Request) -> web.Response:
    body = await parse_body(request, Login)
    # Counted like the public lookup: the client a trusted proxy names, an IPv6 one by its /64.
    address = limit_key(client_address(request, request.app[SETTINGS].http.trusted_proxies))
    issued = await request.app[USERS].token(body.username, body.password, address)
    return web.json_response({"token": issued})


@documented(
    "Log out: the presented token ends",
    tags=("auth",),
    roles=frozenset(Role),
    status=204,
    responses={"204": {"description": "Ended"}, "401": {"description": "No valid token"}},
)
async def logout(request: web.Request) -> web.Response:
    who = await actor(request)
    if who.name == SERVICE_USER:
        raise NotPermitted("the service token ends only with its file (delete it and restart)")
    await request.app[USERS].logout(bearer(request))
    return web.Response(status=204)
