"""Users over HTTP, in process on the real PostgreSQL: admins only, logout, a
disabled user's token ending at once, lockout as 429 with Retry-After."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter.config import Settings
from callcenter.users.roles import Role
from callcenter.users.throttle import USER_POLICY
from callcenter.web import auth, user_routes
from callcenter.web.keys import SERVICE_TOKEN, SETTINGS, USERS
from callcenter.web.problems import problem_middleware
from tests.db.users_support import PASSWORD

SERVICE = "the-service-token-of-this-test"


@pytest.fixture
async def client(users) -> AsyncIterator[TestClient]:
    app = web.Application(middlewares=[problem_middleware])
    app[USERS] = users
    app[SETTINGS] = Settings()  # the login's client address: no trusted proxy
    app[SERVICE_TOKEN] = SERVICE
    app.router.add_post("/api/v1/auth/token", auth.token)
    app.router.add_delete("/api/v1/auth/token", auth.logout)
    user_routes.add_routes(app)
    async with TestClient(TestServer(app)) as client:
        yield client


async def login(client: TestClient, name: str, password: str = PASSWORD) -> dict[str, str]:
    resp = await client.post("/api/v1/auth/token", json={"username": name, "password": password})
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def test_only_admins_manage_users(client, users):
    for role in (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.OPS, Role.ADMIN):
        await users.add(role.value, role, PASSWORD)
    requests = [
        ("GET", "/api/v1/users", None),
        ("POST", "/api/v1/users", {"name": "x1", "role": "agent", "password": PASSWORD}),
        ("GET", "/api/v1/users/agent", None),
        ("PATCH", "/api/v1/users/agent", {"disabled": True}),
        ("DELETE", "/api/v1/users/agent", None),
        ("POST", "/api/v1/users/agent/revoke", None),
    ]
    for method, path, body in requests:
        resp = await client.request(method, path, json=body)
        assert resp.status == 401, (method, path)
        assert resp.content_type == "application/problem+json"
        for who in ("agent", "supervisor", "auditor", "ops"):
            resp = await client.request(method, path, json=body, headers=await login(client, who))
            assert resp.status == 403, (who, method, path)
            assert "may not manage users" in (await resp.json())["detail"]
        service = {"Authorization": f"Bearer {SERVICE}"}  # the command line's: ops rights
        assert (await client.request(method, path, json=body, headers=service)).status == 403
    assert (await users.get("agent")).disabled_at is None  # nothing was done


async def test_an_admin_creates_lists_changes_and_removes_users(client, users):
    await users.add("boss", Role.ADMIN, PASSWORD)
    admin = await login(client, "boss")
    new = {"name": "sup1", "role": "supervisor", "password": PASSWORD, "seat": "1001"}
    resp = await client.post("/api/v1/users", json=new, headers=admin)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["seat"] == "1001"
    resp = await client.post("/api/v1/users", json=new, headers=admin)
    assert resp.status == 409 and "exists already" in (await resp.json())["detail"]
    resp = await client.post("/api/v1/users", json={**new, "password": "short"}, headers=admin)
    assert resp.status == 400 and "password" in (await resp.json())["detail"]
    resp = await client.post(
        "/api/v1/users", json={**new, "name": "ag1", "role": "agent"}, headers=admin
    )
    # Valid by the API document, refused by a rule it cannot state: 422.
    assert resp.status == 422 and (await resp.json())["detail"].startswith("seat:")

    resp = await client.get("/api/v1/users", headers=admin)
    assert [u["name"] for u in await resp.json()] == ["boss", "sup1"]
    resp = await client.patch("/api/v1/users/sup1", json={"seat": "1002"}, headers=admin)
    assert (await resp.json())["seat"] == "1002"
    resp = await client.patch("/api/v1/users/sup1", json={"seat": None}, headers=admin)
    assert (await resp.json())["seat"] is None
    resp = await client.patch("/api/v1/users/sup1", json={"colour": "red"}, headers=admin)
    assert resp.status == 400 and "colour" in (await resp.json())["detail"]
    resp = await client.patch("/api/v1/users/nobody", json={"disabled": True}, headers=admin)
    assert resp.status == 404
    assert (await client.delete("/api/v1/users/sup1", headers=admin)).status == 204
    assert (await client.get("/api/v1/users/sup1", headers=admin)).status == 404


async def test_disabling_a_user_ends_their_token_at_once(client, users):
    await users.add("boss", Role.ADMIN, PASSWORD)
    await users.add("deputy", Role.ADMIN, PASSWORD)
    admin, deputy = await login(client, "boss"), await login(client, "deputy")
    assert (await client.get("/api/v1/users", headers=deputy)).status == 200
    resp = await client.patch("/api/v1/users/deputy", json={"disabled": True}, headers=admin)
    assert resp.status == 200 and (await resp.json())["enabled"] is False
    resp = await client.get("/api/v1/users", headers=deputy)
    assert resp.status == 401
    resp = await client.post(
        "/api/v1/auth/token", json={"username": "deputy", "password": PASSWORD}
    )
    assert resp.status == 401
    # The last enabled admin stays.
    resp = await client.patch("/api/v1/users/boss", json={"disabled": True}, headers=admin)
    assert resp.status == 409 and "last enabled admin" in (await resp.json())["detail"]
    assert (await client.delete("/api/v1/users/boss", headers=admin)).status == 409


async def test_revoke_and_a_new_password_end_tokens(client, users):
    await users.add("boss", Role.ADMIN, PASSWORD)
    await users.add("agent7", Role.AGENT, PASSWORD)
    admin = await login(client, "boss")
    first, second = await login(client, "agent7"), await login(client, "agent7")
    resp = await client.post("/api/v1/users/agent7/revoke", headers=admin)
    assert await resp.json() == {"revoked": 2}
    for token in (first, second):  # 401: not a user any more, not merely not an admin
        assert (await client.get("/api/v1/users", headers=token)).status == 401
    other_admin_session = await login(client, "boss")
    change = {"password": "a new password for boss"}
    resp = await client.patch("/api/v1/users/boss", json=change, headers=admin)
    assert resp.status == 200
    assert (await client.get("/api/v1/users", headers=admin)).status == 200  # the asker's stays
    assert (await client.get("/api/v1/users", headers=other_admin_session)).status == 401


async def test_logout_ends_the_presented_token_only(client, users):
    await users.add("agent8", Role.AGENT, PASSWORD)
    await users.add("boss", Role.ADMIN, PASSWORD)
    mine, other = await login(client, "agent8"), await login(client, "agent8")
    assert (await client.delete("/api/v1/auth/token", headers=mine)).status == 204
    assert (await client.delete("/api/v1/auth/token", headers=mine)).status == 401
    assert (await client.delete("/api/v1/auth/token")).status == 401
    assert (await users.get("agent8")).tokens == 1
    assert (await client.delete("/api/v1/auth/token", headers=other)).status == 204
    service = {"Authorization": f"Bearer {SERVICE}"}
    assert (await client.delete("/api/v1/auth/token", headers=service)).status == 403


async def test_a_lockout_is_429_with_retry_after_whether_the_user_exists_or_not(client, users):
    await users.add("agent9", Role.AGENT, PASSWORD)
    answers = {}
    for name in ("agent9", "no-such-agent"):
        for _ in range(USER_POLICY.limit):
            resp = await client.post(
                "/api/v1/auth/token", json={"username": name, "password": "guess"}
            )
            assert resp.status == 401
        resp = await client.post(
            "/api/v1/auth/token", json={"username": name, "password": PASSWORD}
        )
        body = await resp.json()
        answers[name] = (resp.status, resp.headers.get("Retry-After"), body["detail"])
    assert answers["agent9"] == answers["no-such-agent"]
    assert answers["agent9"][:2] == (429, str(int(USER_POLICY.lock_seconds)))
