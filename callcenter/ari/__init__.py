"""A thin, generic asyncio client for the Asterisk REST Interface.

It knows ARI and nothing of hotlines: REST calls, one events WebSocket with
reconnect, typed events and per-channel ordered inboxes. ari-py (PyPI ``ari``)
does not import on Python 3, hence this client.
"""

from callcenter.ari.client import AriClient, AriSettings
from callcenter.ari.errors import (
    AriConflict,
    AriError,
    AriHttpError,
    AriNotFound,
    AriUnavailable,
)
from callcenter.ari.inbox import ChannelGone, Inbox
from callcenter.ari.router import EventRouter
from callcenter.ari.stream import EventStream

__all__ = [
    "AriClient",
    "AriConflict",
    "AriError",
    "AriHttpError",
    "AriNotFound",
    "AriSettings",
    "AriUnavailable",
    "ChannelGone",
    "EventRouter",
    "EventStream",
    "Inbox",
]
