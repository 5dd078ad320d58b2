"""Asking the running service (reload the flows, take the roster), with the
service token it wrote when it started."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import click

from callcenter.config import Settings
from callcenter.errors import ConfigError


def service_post(settings: Settings, path: str) -> urllib.request.Request:
    """A POST to the running service, with the service token it wrote at start."""
    from callcenter.users import service_token

    try:
        headers = service_token.headers(settings.http.service_token_file)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return urllib.request.Request(
        f"http://{settings.http.host}:{settings.http.port}{path}", method="POST", headers=headers
    )


def not_let_in(exc: urllib.error.HTTPError, settings: Settings) -> None:
    """A 401/403 means the token, not the request: say which file it came from."""
    if exc.code in (401, 403):
        raise click.ClickException(
            f"the running service did not accept the command line's token "
            f"({settings.http.service_token_file}): {problem_detail(exc)}; "
            "are the service and this command using the same configuration?"
        ) from exc


def problem_detail(exc: urllib.error.HTTPError) -> str:
    """The ``detail`` of an application/problem+json answer, else the status line."""
    try:
        detail = json.loads(exc.read() or b"{}").get("detail")
    except ValueError:
        return str(exc)
    return str(detail) if detail else str(exc)
