"""The service's own token, for its command line on the same machine.

``callcenter ivr reload`` and ``callcenter agents add`` ask the running service
over HTTP like any client, so they need a bearer token without a person
logging in. The service writes a random one beside its other secrets at start
(readable by its owner only) and accepts it as the ``service`` user with the
admin role; whoever can read the file can already edit the configuration.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

SERVICE_USER = "service"


def ensure(path: Path) -> str:
    """The token in ``path``, written there first if missing or empty."""
    token = read(path)
    if token:
        return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    os.replace(tmp, path)
    return token


def read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def headers(path: Path) -> dict[str, str]:
    """What the command line sends (nothing when the service never ran here)."""
    token = read(path)
    return {"Authorization": f"Bearer {token}"} if token else {}
