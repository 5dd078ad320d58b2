"""``callcenter`` command line: the ops staff's door."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from callcenter.config import Settings, load_settings
from callcenter.errors import ConfigError


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
    from callcenter.serve import serve as run_serve

    settings = _settings(config)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings.ari_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    asyncio.run(run_serve(settings))


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
    """Print the database URL in effect (after DATABASE_URL overrides the file)."""
    click.echo(_settings(config).database.url)


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
    """Validate the configuration file and print the effective settings."""
    settings = _settings(config)
    click.echo(settings.model_dump_json(indent=2, exclude={"ari": {"password"}}))
