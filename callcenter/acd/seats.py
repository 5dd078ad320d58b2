"""Keep Asterisk's seats in step with the roster: render, then reload res_pjsip.

Used by ``callcenter agents add|remove|render`` and by the service at start, so
a roster change reaches Asterisk without a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from callcenter import safefiles
from callcenter.acd.roster import Roster, SeatSecrets, render_seats
from callcenter.ari import AriError, AriPort

log = logging.getLogger(__name__)


def write_seats_conf(roster: Roster, secrets: SeatSecrets, path: Path) -> bool:
    """Write the seats' pjsip sections; True when the file changed.

    The file holds the seats' passwords: readable by Asterisk's group (the
    folder's) and nobody else, and written without following a link planted
    at its name (see :mod:`callcenter.safefiles`).
    """
    text = render_seats(roster, secrets.passwords([a.seat for a in roster.agents.values()]))
    try:
        if safefiles.read_text(path) == text:
            return False
    except FileNotFoundError:
        pass
    except (safefiles.UnsafeFile, UnicodeDecodeError) as exc:
        log.warning("%s replaced: %s", path, exc)
    path.parent.mkdir(parents=True, exist_ok=True)
    group = path.parent.stat().st_gid  # Asterisk's group reads its config folder
    safefiles.write_file(path, text, mode=0o640, group=group)
    return True


async def reload_pjsip(ari: AriPort) -> bool:
    """Ask Asterisk to re-read pjsip.conf (and our seats); False if it cannot be reached."""
    try:
        await ari.reload_module("res_pjsip.so")
        return True
    except AriError as exc:
        log.warning("res_pjsip reload failed: %s", exc)
        return False
