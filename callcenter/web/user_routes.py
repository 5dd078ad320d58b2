"""Users over HTTP, for admins: what ``callcenter users ...`` does on the command line."""

from __future__ import annotations

from collections.abc import Collection
from typing import Annotated, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.users.roles import Role
from callcenter.users.service import AGENT_ID, KEEP, NAME
from callcenter.web.auth import allowed, bearer
from callcenter.web.keys import ACD, USERS
from callcenter.web.openapi import documented
from callcenter.web.requests import parse_body

ADMINS = frozenset({Role.ADMIN})
RoleName = Literal["agent", "supervisor", "department", "auditor", "ops", "admin"]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME)
    role: RoleName
    password: str = Field(min_length=8, max_length=256)
    department: str | None = Field(None, min_length=1, max_length=32)
    seat: str | None = Field(None, pattern=AGENT_ID)  # an agent id of the roster


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    disabled: bool | None = None  # true: their tokens end at once
    seat: str | None = Field(None, pattern=AGENT_ID)  # null takes the seat away
    password: str | None = Field(None, min_length=8, max_length=256)  # other tokens end


class UserOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    role: RoleName
    department: str | None
    seat: str | None
    created_at: str
    disabled_at: str | None
    enabled: bool
    tokens: int  # live tokens


class RevokedOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revoked: int  # tokens ended


NAME_PATH = {"name": Annotated[str, Field(pattern=NAME)]}


def _seats(request: web.Request) -> Collection[str] | None:
    """The roster's agent ids, which a seat must be one of (None: no ACD here)."""
    acd = request.app.get(ACD)
    return None if acd is None else acd.agents.keys()


@documented(
    "Users (admins)",
    tags=("users",),
    roles=ADMINS,
    response=list[UserOut],
)
async def list_users(request: web.Request) -> web.Response:
    await allowed(request, ADMINS, "manage users")
    return web.json_response([u.as_json() for u in await request.app[USERS].users()])


@documented(
    "Create a user (admins)",
    tags=("users",),
    roles=ADMINS,
    body=NewUser,
    response=UserOut,
    status=201,
    errors={409: "The name is taken"},
)
async def create_user(request: web.Request) -> web.Response:
    await allowed(request, ADMINS, "manage users")
    body = await parse_body(request, NewUser)
    user = await request.app[USERS].add(
        body.name, Role(body.role), body.password, body.department, body.seat, _seats(request)
    )
    return web.json_response(user.as_json(), status=201)


@documented("One user (admins)", tags=("users",), roles=ADMINS, path=NAME_PATH, response=UserOut)
async def get_user(request: web.Request) -> web.Response:
    await allowed(request, ADMINS, "manage users")
    user = await request.app[USERS].get(request.match_info["name"])
    return web.json_response(user.as_json())


@documented(
    "Disable or enable a user, set their seat or password (admins)",
    description="Disabling ends the user's tokens at once; a new password ends every token "
    "of theirs but the one asking.",
    tags=("users",),
    roles=ADMINS,
    path=NAME_PATH,
    body=UserChange,
    response=UserOut,
    errors={409: "That would leave no enabled admin"},
)
async def change_user(request: web.Request) -> web.Response:
    who = await allowed(request, ADMINS, "manage users")
    name = request.match_info["name"]
    body = await parse_body(request, UserChange)
    user = await request.app[USERS].change(
        name,
        disabled=body.disabled,
        seat=body.seat if "seat" in body.model_fields_set else KEEP,
        password=body.password,
        keep_token=bearer(request) if who.name == name else None,
        seats=_seats(request),
    )
    return web.json_response(user.as_json())


@documented(
    "Remove a user (admins); their tokens end",
    tags=("users",),
    roles=ADMINS,
    path=NAME_PATH,
    status=204,
    errors={409: "The last enabled admin"},
)
async def remove_user(request: web.Request) -> web.Response:
    await allowed(request, ADMINS, "manage users")
    await request.app[USERS].remove(request.match_info["name"])
    return web.Response(status=204)


@documented(
    "End every token of a user (admins)",
    tags=("users",),
    roles=ADMINS,
    path=NAME_PATH,
    response=RevokedOut,
)
async def revoke_user(request: web.Request) -> web.Response:
    await allowed(request, ADMINS, "manage users")
    ended = await request.app[USERS].revoke(request.match_info["name"])
    return web.json_response({"revoked": ended})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/users", list_users)
    app.router.add_post("/api/v1/users", create_user)
    app.router.add_get("/api/v1/users/{name}", get_user)
    app.router.add_patch("/api/v1/users/{name}", change_user)
    app.router.add_delete("/api/v1/users/{name}", remove_user)
    app.router.add_post("/api/v1/users/{name}/revoke", revoke_user)
