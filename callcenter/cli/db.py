"""``callcenter db``: the schema (Alembic migrations) and the role's password."""

from __future__ import annotations

from pathlib import Path

import click

from callcenter import safefiles
from callcenter.cli.common import config_option, load


@click.group()
def db() -> None:
    """Database schema (Alembic migrations)."""


@db.command()
@config_option
@click.option("--revision", default="head", show_default=True)
def upgrade(config: Path | None, revision: str) -> None:
    """Migrate the database to REVISION."""
    from callcenter.db.migrate import upgrade as run_upgrade

    run_upgrade(load(config).database.url, revision)


@db.command()
@config_option
def url(config: Path | None) -> None:
    """Print the database URL in effect (after DATABASE_URL overrides the file),
    with the password from database.password_file: what the scripts connect with."""
    from sqlalchemy.engine import make_url

    database = load(config).database
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

    database = load(config).database
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

    run_downgrade(load(config).database.url, revision)
