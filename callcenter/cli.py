"""``callcenter`` command line: the ops staff's door."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from callcenter import safefiles
from callcenter.config import Settings, load_settings
from callcenter.errors import ConfigError

if TYPE_CHECKING:
    import urllib.error
    import urllib.request
    from collections.abc import Awaitable, Callable

    from callcenter.ivr.flowset import FlowError
    from callcenter.users.service import UserService

T = TypeVar("T")


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


config_option = click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path),
    default=None,
    help="Service configuration (default: $HOTLINE_CONFIG or config/hotline.yaml).",
)


@click.group()
def main() -> None:
    """12345 government service hotline backend."""


@main.command()
@config_option
def serve(config: Path | None) -> None:
    """Run the service: ARI calls, call records and the HTTP API."""
    from callcenter.logs import configure as configure_logs
    from callcenter.serve import serve as run_serve

    settings = _settings(config)
    configure_logs(settings.log_level, settings.logging.format)
    try:
        settings.ari_settings()
        asyncio.run(run_serve(settings))
    except ConfigError as exc:  # e.g. invalid IVR flows: refuse to start, say where
        raise click.ClickException(str(exc)) from exc


@main.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command()
@config_option
@click.option("--revision", default="head", show_default=True)
def upgrade(config: Path | None, revision: str) -> None:
    """Migrate the database to REVISION."""
    from callcenter.db.migrate import upgrade as run_upgrade

    run_upgrade(_settings(config).database.url, revision)


@db.command()
@config_option
def url(config: Path | None) -> None:
    """Print the database URL in effect (after DATABASE_URL overrides the file),
    with the password from database.password_file: what the scripts connect with."""
    from sqlalchemy.engine import make_url

    database = _settings(config).database
    if database.password_file is not None and make_url(database.url).password is None:
        try:
            safefiles.read_text(database.password_file)
        except (OSError, UnicodeDecodeError) as exc:
            raise click.ClickException(
                f"database.password_file {database.password_file}: "
                f"{getattr(exc, 'strerror', None) or exc} "
                "(`callcenter db init-password` or `make setup` generates it)"
            ) from exc
    click.echo(database.url)


@db.command(name="init-password")
@config_option
def init_password(config: Path | None) -> None:
    """Generate the database role's password into database.password_file (0600)
    unless it is there; scripts/postgres.sh gives it to the role."""
    import secrets

    database = _settings(config).database
    path = database.password_file
    if path is None:
        raise click.ClickException("database.password_file is not set")
    try:
        if safefiles.read_text(path).strip():
            return
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"{path}: {exc}") from exc
    safefiles.ensure_dir(path.parent, mode=0o700)
    safefiles.write_file(path, secrets.token_urlsafe(24) + "\n", mode=0o600)
    click.echo(f"generated the database password into {path}")


@db.command()
@config_option
@click.argument("revision")
def downgrade(config: Path | None, revision: str) -> None:
    """Migrate the database down to REVISION."""
    from callcenter.db.migrate import downgrade as run_downgrade

    run_downgrade(_settings(config).database.url, revision)


@main.group(name="config")
def config_group() -> None:
    """Service configuration."""


@config_group.command(name="check")
@config_option
def config_check(config: Path | None) -> None:
    """Validate the configuration (with deadlines, the catalogue and the department
    directory); print the settings."""
    from callcenter.directory import load_directory
    from callcenter.tickets.deadlines import load_deadlines

    settings = _settings(config)
    try:
        load_deadlines(settings.tickets.deadlines)
        load_directory(settings.ivr.directory, _departments(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    shown = settings.model_copy(
        update={"database": settings.database.model_copy(update={"url": _hide(settings)})}
    )
    click.echo(shown.model_dump_json(indent=2, exclude={"ari": {"password"}}))


def _hide(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database.url).render_as_string(hide_password=True)


def _departments(settings: Settings) -> dict[str, str] | None:
    """The catalogue's departments (code → name): the codes the directory may use."""
    from callcenter.tickets.catalogue import load_catalogue

    catalogue = load_catalogue(settings.tickets.catalogue)
    return {code: d.name for code, d in catalogue.departments.items()} or None


@main.group()
def ivr() -> None:
    """IVR flows: validate, simulate, reload."""


@ivr.command()
@config_option
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    default=None,
    help="Language of the messages (default: ivr.messages_language, zh).",
)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def validate(config: Path | None, lang: str | None, paths: tuple[Path, ...]) -> None:
    """Check the flows in PATHS (default: the configured ivr_flows/) all together, as the
    service loads them: against the prompts beside them (PATHS[0]/prompts), the queues,
    the directory, the calendar and the lookup data. Warnings do not refuse the flows."""
    from callcenter.ivr import messages

    settings = _settings(config)
    language: messages.Language = settings.ivr.messages_language
    if lang in messages.LANGUAGES:
        language = "en" if lang == "en" else "zh"
    with messages.language(language):
        _validate(settings, paths)


def _validate(settings: Settings, paths: tuple[Path, ...]) -> None:
    from callcenter.ivr import messages
    from callcenter.ivr.flowset import FlowSetInvalid
    from callcenter.ivr.registry import load_runtime

    configured = settings.ivr.paths()
    ivr_paths = configured.with_flows(paths[0]) if paths else configured
    beside = configured.prompts_beside(paths[0]) if paths else None
    if beside is not None and ivr_paths.prompts_dir != beside:
        click.echo(
            messages.text("no_prompts_beside", flows=paths[0], prompts=configured.prompts_dir),
            err=True,
        )
    try:
        runtime = load_runtime(ivr_paths, departments=_departments(settings), flows=paths)
    except FlowSetInvalid as exc:
        # The errors in their order (root causes first, what follows folded under
        # them); the warnings after them, by position.
        for error in [*exc.errors, *sorted(exc.warnings, key=_by_position)]:
            click.echo(str(error), err=True)
        raise click.ClickException(messages.text("refused", count=len(exc.errors))) from exc
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    flows = runtime.flows
    for warning in flows.warnings:
        click.echo(str(warning), err=True)
    click.echo(
        messages.text(
            "valid",
            count=len(flows.flows),
            version=flows.version,
            names=", ".join(sorted(flows.flows)),
        )
        + (messages.text("with_warnings", count=len(flows.warnings)) if flows.warnings else "")
    )


def _by_position(error: FlowError) -> tuple[str, int, int]:
    return (str(error.path), error.line, error.column)


@ivr.command()
@config_option
def reload(config: Path | None) -> None:
    """Ask the running service to load the flows again (calls in progress keep theirs)."""
    import json
    import urllib.error
    import urllib.request

    settings = _settings(config)
    request = _service_post(settings, "/api/v1/ivr/reload")
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            answer = json.load(r)
        for warning in answer.get("warnings", []):
            click.echo(warning, err=True)
        click.echo(f"reloaded: version {answer['version']}")
    except urllib.error.HTTPError as exc:
        _not_let_in(exc, settings)
        body = json.loads(exc.read() or b"{}")
        for line in body.get("errors", [body.get("detail", str(exc))]):
            click.echo(line, err=True)
        raise click.ClickException(
            f"reload refused; still serving version {body.get('version', '?')}"
        ) from exc
    except OSError as exc:
        raise click.ClickException(f"cannot reach the service at {url}: {exc}") from exc


@ivr.command()
@config_option
@click.argument("flow")
@click.option("--digits", default="", help='Key groups, one per menu/collect: "2,1,1234#".')
@click.option("--at", "at_", default=None, help='Local time of the call, "2026-10-01 09:00".')
@click.option("--caller", default="13800000000", show_default=True)
@click.option(
    "--transfer",
    type=click.Choice(["connected", "no_answer", "failed"]),
    default="connected",
    show_default=True,
    help="What a transfer node meets.",
)
def simulate(
    config: Path | None, flow: str, digits: str, at_: str | None, caller: str, transfer: str
) -> None:
    """Run FLOW without Asterisk and print the path taken and the prompts heard."""
    from datetime import datetime

    from callcenter.ivr.port import TransferResult
    from callcenter.ivr.prompts import PromptLibrary
    from callcenter.ivr.registry import load_runtime
    from callcenter.ivr.simulator import simulate as run_simulation

    settings = _settings(config)
    try:
        runtime = load_runtime(settings.ivr.paths(), departments=_departments(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if flow not in runtime.flows.flows:
        raise click.ClickException(
            f"no flow {flow!r}; flows: {', '.join(sorted(runtime.flows.flows))}"
        )
    try:
        moment = (
            runtime.calendar.local(datetime.fromisoformat(at_))
            if at_
            else datetime.now(runtime.calendar.zone)
        )
    except ValueError as exc:
        raise click.ClickException(f"--at {at_!r}: expected YYYY-MM-DD HH:MM") from exc
    prompts = PromptLibrary(settings.ivr.prompts_dir, settings.ivr.prompts_media_root)
    asyncio.run(
        run_simulation(
            runtime,
            flow,
            digits,
            at=moment,
            caller=caller,
            prompts=prompts,
            out=click.echo,
            transfer_result=TransferResult(transfer),
            guard=settings.tickets.public_lookup.guard(),
        )
    )


@main.group()
def agents() -> None:
    """The agent roster and the seats (SIP endpoints) agents' softphones use."""


def _roster_paths(config: Path | None):
    from callcenter.acd.roster import SeatSecrets, load_roster

    settings = _settings(config)
    try:
        roster = load_roster(settings.acd.roster)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings, roster, SeatSecrets(settings.acd.seat_secrets)


def _agent_view(settings: Settings, agent_id: str, agent, password: str | None) -> dict:
    view = {
        "id": agent_id,
        "name": agent.name,
        "skills": dict(agent.skills),
        "languages": list(agent.languages),
        "seat": agent.seat,
        "endpoint": settings.acd.seat_endpoint.format(seat=agent.seat),
    }
    if password is not None:
        view["sip"] = {
            "server": settings.acd.sip_server,
            "username": agent.seat,
            "password": password,
            "transport": "udp",
        }
    return view


@agents.command(name="list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def agents_list(config: Path | None, as_json: bool) -> None:
    """List the roster."""
    import json

    settings, roster, _ = _roster_paths(config)
    views = [_agent_view(settings, i, a, None) for i, a in sorted(roster.agents.items())]
    if as_json:
        click.echo(json.dumps(views, ensure_ascii=False, indent=2))
        return
    for v in views:
        skills = ",".join(f"{q}:{lvl}" for q, lvl in v["skills"].items()) or "-"
        click.echo(
            f"{v['id']:8} {v['name']:12} {v['seat']:12} {skills:28} {','.join(v['languages'])}"
        )


@agents.command(name="show")
@config_option
@click.argument("agent_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def agents_show(config: Path | None, agent_id: str, as_json: bool) -> None:
    """One agent, with the SIP account to enter in the softphone."""
    import json

    settings, roster, secrets = _roster_paths(config)
    agent = roster.agents.get(agent_id)
    if agent is None:
        raise click.ClickException(f"no agent {agent_id!r} in {settings.acd.roster}")
    view = _agent_view(settings, agent_id, agent, secrets.passwords([agent.seat])[agent.seat])
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False, indent=2))
    else:
        for key, value in view.items():
            click.echo(f"{key:10} {value}")


def _service_post(settings: Settings, path: str) -> urllib.request.Request:
    """A POST to the running service, with the service token it wrote at start."""
    import urllib.request

    from callcenter.users import service_token

    try:
        headers = service_token.headers(settings.http.service_token_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return urllib.request.Request(
        f"http://{settings.http.host}:{settings.http.port}{path}", method="POST", headers=headers
    )


def _not_let_in(exc: urllib.error.HTTPError, settings: Settings) -> None:
    """A 401/403 means the token, not the request: say which file it came from."""
    if exc.code in (401, 403):
        raise click.ClickException(
            f"the running service did not accept the command line's token "
            f"({settings.http.service_token_file}): {_problem_detail(exc)}; "
            "are the service and this command using the same configuration?"
        ) from exc


def _problem_detail(exc: urllib.error.HTTPError) -> str:
    """The ``detail`` of an application/problem+json answer, else the status line."""
    import json

    try:
        return json.loads(exc.read() or b"{}").get("detail") or str(exc)
    except ValueError:
        return str(exc)


def _apply_roster(settings: Settings, roster) -> None:
    """Have the running service take the roster (it renders the seats and reloads
    Asterisk's pjsip once); with no service, render and reload from here."""
    import json
    import urllib.error
    import urllib.request

    from callcenter.acd.roster import SeatSecrets
    from callcenter.acd.seats import reload_pjsip, write_seats_conf
    from callcenter.ari import AriClient

    request = _service_post(settings, "/api/v1/agents/reload")
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            taken = json.load(r)
    except urllib.error.HTTPError as exc:
        _not_let_in(exc, settings)
        raise click.ClickException(
            f"the roster is saved, but the running service refused it: {_problem_detail(exc)}"
        ) from exc
    except (urllib.error.URLError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        if not isinstance(reason, ConnectionRefusedError):
            raise click.ClickException(
                f"the service at {url} did not answer ({reason}); the roster is saved "
                "and the service reads it when it starts"
            ) from exc
        taken = None  # no service: it reads the roster when it starts
    if taken is not None:
        click.echo(
            f"the running service took the roster ({taken['agents']} agents)"
            + ("; seats reloaded in Asterisk" if taken["pjsip_reloaded"] else "")
        )
        return
    if settings.acd.seats_conf is None:
        return
    write_seats_conf(roster, SeatSecrets(settings.acd.seat_secrets), settings.acd.seats_conf)

    async def reload() -> bool:
        async with AriClient(settings.ari_settings()) as ari:
            return await reload_pjsip(ari)

    try:
        reloaded = asyncio.run(reload())
    except ConfigError:
        reloaded = False
    click.echo(
        "seats reloaded in Asterisk"
        if reloaded
        else "Asterisk not reachable: the seats apply when it starts"
    )


@agents.command(name="add")
@config_option
@click.argument("agent_id")
@click.option("--name", required=True)
@click.option("--seat", default=None, help="SIP endpoint name (default: seat-ID).")
@click.option("--skill", "skills", multiple=True, help="QUEUE=LEVEL, e.g. general=5.")
@click.option("--language", "languages", multiple=True, default=("zh",), show_default=True)
def agents_add(
    config: Path | None,
    agent_id: str,
    name: str,
    seat: str | None,
    skills: tuple[str, ...],
    languages: tuple[str, ...],
) -> None:
    """Add an agent (or replace one with the same ID) and their seat."""
    from pydantic import ValidationError

    from callcenter.acd.roster import AgentConfig, Roster, save_roster

    settings, roster, _ = _roster_paths(config)
    try:
        levels = {q: int(lvl) for q, lvl in (s.split("=", 1) for s in skills)}
    except ValueError as exc:
        raise click.BadParameter("use QUEUE=LEVEL, e.g. general=5", param_hint="--skill") from exc
    try:
        agent = AgentConfig(
            name=name,
            seat=seat or f"seat-{agent_id.lower()}",
            skills=levels,
            languages=list(languages),
        )
        new = Roster.model_validate({"agents": {**roster.agents, agent_id: agent}})
    except ValidationError as exc:
        raise click.ClickException(str(exc)) from exc
    owner = roster.by_seat(agent.seat)
    if owner not in (None, agent_id):
        raise click.ClickException(f"seat {agent.seat} already belongs to agent {owner}")
    save_roster(settings.acd.roster, new)
    click.echo(f"agent {agent_id} ({name}) at seat {agent.seat}")
    _apply_roster(settings, new)


@agents.command(name="remove")
@config_option
@click.argument("agent_id")
def agents_remove(config: Path | None, agent_id: str) -> None:
    """Remove an agent and their seat."""
    from callcenter.acd.roster import Roster, save_roster

    settings, roster, _ = _roster_paths(config)
    if agent_id not in roster.agents:
        raise click.ClickException(f"no agent {agent_id!r} in {settings.acd.roster}")
    new = Roster(agents={k: v for k, v in roster.agents.items() if k != agent_id})
    save_roster(settings.acd.roster, new)
    click.echo(f"agent {agent_id} removed")
    _apply_roster(settings, new)


@agents.command(name="render")
@config_option
def agents_render(config: Path | None) -> None:
    """Write the seats' pjsip sections (done at every Asterisk start)."""
    from callcenter.acd.seats import write_seats_conf

    settings, roster, secrets = _roster_paths(config)
    if settings.acd.seats_conf is None:
        raise click.ClickException("acd.seats_conf is not set: seats are managed elsewhere")
    write_seats_conf(roster, secrets, settings.acd.seats_conf)
    click.echo(f"{len(roster.agents)} seat(s) in {settings.acd.seats_conf}")


@main.group()
def users() -> None:
    """Users of the API and pages (agents, supervisors, departments, ...)."""


def _with_users(config: Path | None, work: Callable[[UserService], Awaitable[T]]) -> T:
    """Run ``work(UserService)`` against the database; a refusal is a clear error."""
    from callcenter.db.engine import make_engine, make_sessionmaker
    from callcenter.users.service import UserError, UserService

    settings = _settings(config)

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
    _, roster, _ = _roster_paths(config)
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
@click.option(
    "--role",
    required=True,
    type=click.Choice(["agent", "supervisor", "department", "auditor", "ops", "admin"]),
)
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
    from callcenter.tickets.workflow import Role

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
