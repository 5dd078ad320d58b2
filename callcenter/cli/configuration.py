"""``callcenter config``: the service configuration, checked and shown."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.cli.common import config_option, departments, load
from callcenter.config import Settings
from callcenter.errors import ConfigError


@click.group(name="config")
def config_group() -> None:
    """Service configuration."""


@config_group.command(name="check")
@config_option
def config_check(config: Path | None) -> None:
    """Validate the configuration (with deadlines, the catalogue and the department
    directory); print the settings."""
    from callcenter.directory import load_directory
    from callcenter.tickets.deadlines import load_deadlines

    settings = load(config)
    try:
        load_deadlines(settings.tickets.deadlines)
        load_directory(settings.ivr.directory, departments(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    shown = settings.model_copy(
        update={"database": settings.database.model_copy(update={"url": _hide(settings)})}
    )
    click.echo(shown.model_dump_json(indent=2, exclude={"ari": {"password"}}))


def _hide(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.database.url).render_as_string(hide_password=True)
