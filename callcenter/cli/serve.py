"""``callcenter serve``: the service in the foreground."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from callcenter.cli.common import config_option, load
from callcenter.errors import ConfigError


@click.command()
@config_option
def serve(config: Path | None) -> None:
    """Run the service: ARI calls, call records and the HTTP API."""
    from callcenter.logs import configure as configure_logs
    from callcenter.serve import serve as run_serve

    settings = load(config)
    configure_logs(settings.log_level, settings.logging.format)
    try:
        settings.ari_settings()
        asyncio.run(run_serve(settings))
    except ConfigError as exc:  # e.g. invalid IVR flows: refuse to start, say where
        raise click.ClickException(str(exc)) from exc
