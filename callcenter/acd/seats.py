"""Keep Asterisk's seats in step with the roster: render, then reload res_pjsip.

Used by ``callcenter agents add|remove|render`` and by the service at start, so
a roster change reaches Asterisk without a restart.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from callcenter.acd.roster import Roster, SeatSecrets, render_seats
from callcenter.ari import AriClient, AriError

log = logging.getLogger(__name__)


def write_seats_conf(roster: Roster, secrets: SeatSecrets, path: Path) -> bool:
    """Write the seats' pjsip sections; True when the file changed."""
    text = render_seats(roster, secrets.passwords([a.seat for a in roster.agents.values()]))
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    folder = path.parent.stat()
    tmp.chmod(0o640)
    os.chown(tmp, folder.st_uid, folder.st_gid)  # Asterisk owns its config folder
    os.replace(tmp, path)
    return True


async def reload_pjsip(ari: AriClient) -> bool:
    """Ask Asterisk to re-read pjsip.conf (and our seats); False if it cannot be reached."""
    try:
        await ari.reload_module("res_pjsip.so")
        return True
    except AriError as exc:
        log.warning("res_pjsip reload failed: %s", exc)
        return False
