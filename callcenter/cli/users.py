"""``callcenter users``: the accounts of the API and pages, in the database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from callcenter.cli.agents import roster_of
from callcenter.cli.common import config_option, load
from callcenter.users.roles import Role

if TYPE_CHECKING:
    from callcenter.users.service import UserService

T = TypeVar("T")


@click.group()
def users() -> None:
    """Users of the API and pages (agents, supervisors, departments, ...)."""


def _with_users(config: Path | None, work: Callable[[UserService], Awaitable[T]]) -> T:
    """Run ``work(UserService)`` against the database; a refusal is a clear error."""
    from callcenter.db.engine import make_engine, make_sessionmaker
    from callcenter.users.service import UserError, UserService

    settings = load(config)

    async def run() -> T:
        engine = make_engine(settings.database.url)
        service = UserService(make_sessionmaker(engine))
        try:
            return await work(service)
        finally:
            service.close()
            await engine.dispose()

    try:
        return asyncio.run(run())
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc


def _roster_seats(config: Path | None) -> set[str]:
    """The agent ids a seat may name."""
    _, roster, _ = roster_of(config)
    return set(roster.agents)


def _read_password() -> str:
    return sys.stdin.readline().rstrip("\n")


password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    required=True,
    help="Read the password from standard input (never from the command line).",
)


@users.command(name="list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def users_list(config: Path | None, as_json: bool) -> None:
    """List the users, their roles, seats and whether they are enabled."""
    import json

    views = [u.as_json() for u in _with_users(config, lambda users: users.users())]
    if as_json:
        click.echo(json.dumps(views, ensure_ascii=False, indent=2))
        return
    for v in views:
        state = "enabled" if v["enabled"] else f"disabled {v['disabled_at']}"
        click.echo(
            f"{v['name']:20} {v['role']:10} {v['department'] or '-':12} "
            f"{v['seat'] or '-':8} {v['tokens']:3} token(s)  {state}"
        )


@users.command(name="add")
@config_option
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([role.value for role in Role]))
@click.option("--department", default=None, help="Department code (department users).")
@click.option(
    "--seat",
    default=None,
    metavar="AGENT_ID",
    help="The roster agent whose seat rings when this supervisor listens in.",
)
@password_stdin_option
def users_add(
    config: Path | None,
    name: str,
    role: str,
    department: str | None,
    seat: str | None,
    password_stdin: bool,
) -> None:
    """Create a user."""
    password = _read_password()
    seats = _roster_seats(config) if seat is not None else None
    _with_users(
        config, lambda users: users.add(name, Role(role), password, department, seat, seats)
    )
    click.echo(f"user {name} ({role}{', ' + department if department else ''}) created")


def _user_command(
    command: str,
    help_text: str,
    act: Callable[[UserService, str], Awaitable[object]],
    said: Callable[[str, object], str],
) -> None:
    """``callcenter users COMMAND NAME``: one call of the user service, one line said."""

    @users.command(name=command, help=help_text)
    @config_option
    @click.argument("name")
    def run(config: Path | None, name: str) -> None:
        result = _with_users(config, lambda service: act(service, name))
        click.echo(said(name, result))


_user_command(
    "disable",
    "Disable a user: their tokens end now and no login works until enabled.",
    lambda users, name: users.disable(name),
    lambda name, _: f"user {name} disabled; their tokens ended",
)
_user_command(
    "enable",
    "Let a disabled user log in again.",
    lambda users, name: users.enable(name),
    lambda name, _: f"user {name} enabled",
)
_user_command(
    "remove",
    "Remove a user and their tokens (what they did stays on record under their name).",
    lambda users, name: users.remove(name),
    lambda name, _: f"user {name} removed",
)
_user_command(
    "revoke",
    "End every token of a user (they log in again).",
    lambda users, name: users.revoke(name),
    lambda name, ended: f"{ended} token(s) of {name} ended",
)


@users.command(name="passwd")
@config_option
@click.argument("name")
@password_stdin_option
def users_passwd(config: Path | None, name: str, password_stdin: bool) -> None:
    """Set a user's password; their tokens end."""
    password = _read_password()
    _with_users(config, lambda users: users.passwd(name, password))
    click.echo(f"password of {name} changed; their tokens ended")


@users.command(name="seat")
@config_option
@click.argument("name")
@click.argument("agent_id", required=False)
@click.option("--clear", is_flag=True, help="Take the seat away.")
def users_seat(config: Path | None, name: str, agent_id: str | None, clear: bool) -> None:
    """Set the roster agent whose seat rings when NAME listens, whispers or barges."""
    if (agent_id is None) == (not clear):
        raise click.UsageError("give AGENT_ID, or --clear")
    seats = _roster_seats(config) if agent_id is not None else None
    _with_users(config, lambda users: users.set_seat(name, agent_id, seats))
    click.echo(f"user {name}: seat {agent_id}" if agent_id else f"user {name}: no seat")
