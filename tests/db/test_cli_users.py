"""`callcenter users ...` on the real PostgreSQL (a database of the users tests' own)."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner, Result

from callcenter.cli import main
from callcenter.users.errors import Unauthorized
from callcenter.users.roles import Role
from tests.db.users_support import PASSWORD


@pytest.fixture
def cli(users_url, empty, monkeypatch):
    """``callcenter users ARGS`` (with the shipped config: roster agents 1001-1003)."""
    monkeypatch.setenv("DATABASE_URL", users_url)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)

    async def run(*args: str, stdin: str | None = None) -> Result:
        # In a thread: the command runs its own event loop, as it does in a shell.
        return await asyncio.to_thread(CliRunner().invoke, main, ["users", *args], input=stdin)

    return run


async def test_users_are_added_listed_and_seated_without_sql(cli):
    ok = await cli("add", "boss", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    assert "user boss (admin) created" in ok.output
    added = await cli(
        "add", "sup", "--role", "supervisor", "--seat", "1001", "--password-stdin", stdin=PASSWORD
    )
    assert added.exit_code == 0, added.output
    listed = await cli("list", "--json")
    views = {u["name"]: u for u in json.loads(listed.output)}
    assert (views["sup"]["role"], views["sup"]["seat"], views["sup"]["enabled"]) == (
        "supervisor",
        "1001",
        True,
    )
    assert "sup" in (await cli("list")).output
    seated = await cli("seat", "sup", "1002")
    assert seated.exit_code == 0 and "user sup: seat 1002" in seated.output
    wrong = await cli("seat", "sup", "9999")
    assert wrong.exit_code == 1 and "seat: no agent '9999' in the roster" in wrong.output
    cleared = await cli("seat", "sup", "--clear")
    assert cleared.exit_code == 0 and "no seat" in cleared.output
    agent_seat = await cli(
        "add", "ag", "--role", "agent", "--seat", "1001", "--password-stdin", stdin=PASSWORD
    )
    assert agent_seat.exit_code == 1 and "seat: only admin, supervisor" in agent_seat.output


async def test_disable_enable_passwd_revoke_remove(cli, users):
    await users.add("boss", Role.ADMIN, PASSWORD)
    await users.add("ag", Role.AGENT, PASSWORD)
    token = await users.token("ag", PASSWORD)
    disabled = await cli("disable", "ag")
    assert disabled.exit_code == 0 and "disabled; their tokens ended" in disabled.output
    with pytest.raises(Unauthorized):
        await users.actor(token)  # at once, without the service being told
    listed = json.loads((await cli("list", "--json")).output)
    assert [u["enabled"] for u in listed if u["name"] == "ag"] == [False]
    assert (await cli("enable", "ag")).exit_code == 0
    token = await users.token("ag", PASSWORD)
    changed = await cli("passwd", "ag", "--password-stdin", stdin="another password\n")
    assert changed.exit_code == 0, changed.output
    with pytest.raises(Unauthorized):
        await users.actor(token)
    await users.token("ag", "another password")
    await users.token("ag", "another password")
    revoked = await cli("revoke", "ag")
    assert revoked.exit_code == 0 and "2 token(s) of ag ended" in revoked.output
    assert (await cli("remove", "ag")).exit_code == 0
    gone = await cli("remove", "ag")
    assert gone.exit_code == 1 and "no user 'ag'" in gone.output
    last = await cli("disable", "boss")
    assert last.exit_code == 1 and "the last enabled admin" in last.output
    short = await cli("passwd", "boss", "--password-stdin", stdin="short\n")
    assert short.exit_code == 1 and "password: between 8 and 256 characters" in short.output
