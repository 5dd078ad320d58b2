"""What every command shares: the ``--config`` option and the settings it names."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter.config import Settings, find_config, load_settings
from callcenter.errors import ConfigError

config_option = click.option(
    "--config",
    "-c",
    type=click.Path(path_type=Path),
    default=None,
    help=(
        "Service configuration (default: $HOTLINE_CONFIG, else config/hotline.yaml "
        "of the installed project)."
    ),
)


def load(config: Path | None) -> Settings:
    """The settings from ``--config`` (or where :func:`find_config` looks); a bad file
    is a clear error that names it."""
    try:
        return load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def whence(config: Path | None) -> str:
    """Which configuration file the command read: said whenever something is missing,
    since every relative path in it is relative to that file."""
    path = find_config(config)
    if path.exists():
        return f"configuration {path}"
    return (
        f"configuration {path}, which does not exist, so the defaults; "
        "give --config or set HOTLINE_CONFIG"
    )


def departments(settings: Settings) -> dict[str, str] | None:
    """The catalogue's departments (code → name): the codes the directory may use."""
    from callcenter.tickets.catalogue import load_catalogue

    catalogue = load_catalogue(settings.tickets.catalogue)
    return {code: d.name for code, d in catalogue.departments.items()} or None
