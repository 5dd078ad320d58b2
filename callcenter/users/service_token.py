"""The service's own token, for its command line on the same machine.

``callcenter ivr reload`` and ``callcenter agents add`` ask the running service
over HTTP like any client, so they need a bearer token without a person
logging in. The service writes a random one beside its other secrets the first
time it starts (readable by its owner only; delete it and restart to change
it) and accepts it as ``service:cli`` with the ops role: reloads, and nothing
of the work orders or call records.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from callcenter.errors import ConfigError

SERVICE_USER = "service:cli"  # no user name can contain ':'


def ensure(path: Path) -> str:
    """The token in ``path``, written there first if missing or empty."""
    token = read(path)
    if token:
        return token
    token = secrets.token_urlsafe(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
        with os.fdopen(fd, "w") as out:
            out.write(token + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the service token: {exc}") from exc
    return token


def read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the service token: {exc}") from exc


def headers(path: Path) -> dict[str, str]:
    """What the command line sends (nothing when the service never ran here)."""
    token = read(path)
    return {"Authorization": f"Bearer {token}"} if token else {}
