"""``callcenter agents``: the roster and the seats (SIP endpoints) agents' softphones use."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from callcenter.cli.common import config_option, load, whence
from callcenter.cli.running import not_let_in, problem_detail, service_post
from callcenter.config import Settings
from callcenter.errors import ConfigError

if TYPE_CHECKING:
    from callcenter.acd.roster import AgentConfig, Roster, SeatSecrets


@click.group()
def agents() -> None:
    """The agent roster and the seats (SIP endpoints) agents' softphones use."""


def roster_of(config: Path | None) -> tuple[Settings, Roster, SeatSecrets]:
    """The settings, the roster they name and its seats' secrets."""
    from callcenter.acd.roster import SeatSecrets, load_roster

    settings = load(config)
    try:
        roster = load_roster(settings.acd.roster)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return settings, roster, SeatSecrets(settings.acd.seat_secrets)


def no_agent(agent_id: str, settings: Settings, config: Path | None) -> click.ClickException:
    """No such agent: in which roster, read through which configuration."""
    roster = settings.acd.roster
    missing = "" if roster.exists() else ", which does not exist"
    return click.ClickException(
        f"no agent {agent_id!r} in {roster}{missing} (acd.roster of the {whence(config)})"
    )


def _agent_view(
    settings: Settings, agent_id: str, agent: AgentConfig, password: str | None
) -> dict[str, Any]:
    view: dict[str, Any] = {
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

    settings, roster, _ = roster_of(config)
    if not settings.acd.roster.exists():
        click.echo(
            f"no roster: {settings.acd.roster} does not exist (acd.roster of the {whence(config)})",
            err=True,
        )
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

    settings, roster, secrets = roster_of(config)
    agent = roster.agents.get(agent_id)
    if agent is None:
        raise no_agent(agent_id, settings, config)
    view = _agent_view(settings, agent_id, agent, secrets.passwords([agent.seat])[agent.seat])
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False, indent=2))
    else:
        for key, value in view.items():
            click.echo(f"{key:10} {value}")


def _apply_roster(settings: Settings, roster: Roster) -> None:
    """Have the running service take the roster (it renders the seats and reloads
    Asterisk's pjsip once); with no service, render and reload from here."""
    import json
    import urllib.error
    import urllib.request

    from callcenter.acd.roster import SeatSecrets
    from callcenter.acd.seats import reload_pjsip, write_seats_conf
    from callcenter.ari import AriClient

    request = service_post(settings, "/api/v1/agents/reload")
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            taken = json.load(r)
    except urllib.error.HTTPError as exc:
        not_let_in(exc, settings)
        raise click.ClickException(
            f"the roster is saved, but the running service refused it: {problem_detail(exc)}"
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

    settings, roster, _ = roster_of(config)
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

    settings, roster, _ = roster_of(config)
    if agent_id not in roster.agents:
        raise no_agent(agent_id, settings, config)
    new = Roster(agents={k: v for k, v in roster.agents.items() if k != agent_id})
    save_roster(settings.acd.roster, new)
    click.echo(f"agent {agent_id} removed")
    _apply_roster(settings, new)


@agents.command(name="render")
@config_option
def agents_render(config: Path | None) -> None:
    """Write the seats' pjsip sections (done at every Asterisk start)."""
    from callcenter.acd.seats import write_seats_conf

    settings, roster, secrets = roster_of(config)
    if settings.acd.seats_conf is None:
        raise click.ClickException("acd.seats_conf is not set: seats are managed elsewhere")
    write_seats_conf(roster, secrets, settings.acd.seats_conf)
    click.echo(f"{len(roster.agents)} seat(s) in {settings.acd.seats_conf}")
