"""The service's own token, for its command line on the same machine.

``callcenter ivr reload`` and ``callcenter agents add`` ask the running service
over HTTP like any client, so they need a bearer token without a person
logging in. The service writes a random one beside its other secrets the first
time it starts (readable by its owner only; delete it and restart to change
it) and accepts it as ``service:cli`` with the ops role: reloads, and nothing
of the work orders or call records.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from callcenter import safefiles
from callcenter.errors import ConfigError

SERVICE_USER = "service:cli"  # no user name can contain ':'


def ensure(path: Path) -> str:
    """The token in ``path``, written there first if missing or empty."""
    token = read(path)
    if token:
        return token
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        safefiles.write_file(path, token + "\n", mode=0o600)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the service token: {exc}") from exc
    return token


def read(path: Path) -> str | None:
    try:
        return safefiles.read_text(path).strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the service token: {exc}") from exc


def headers(path: Path) -> dict[str, str]:
    """What the command line sends (nothing when the service never ran here)."""
    token = read(path)
    return {"Authorization": f"Bearer {token}"} if token else {}
