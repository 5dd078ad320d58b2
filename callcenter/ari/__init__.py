"""A thin, generic asyncio client for the Asterisk REST Interface.

It knows ARI and nothing of hotlines: REST calls (typed by the ``AriPort``
protocol, typed replies), one events WebSocket with reconnect, typed events and
per-channel ordered inboxes. ari-py (PyPI ``ari``) does not import on Python 3,
hence this client.
"""

from callcenter.ari.client import AriClient, AriSettings, RequestObserver
from callcenter.ari.errors import (
    AriConflict,
    AriError,
    AriHttpError,
    AriNotFound,
    AriUnavailable,
)
from callcenter.ari.inbox import ChannelGone, Inbox
from callcenter.ari.models import Endpoint, StoredRecording
from callcenter.ari.port import AriPort
from callcenter.ari.router import EventRouter
from callcenter.ari.stream import EventStream

__all__ = [
    "AriClient",
    "AriConflict",
    "AriError",
    "AriHttpError",
    "AriNotFound",
    "AriPort",
    "AriSettings",
    "AriUnavailable",
    "ChannelGone",
    "Endpoint",
    "EventRouter",
    "EventStream",
    "Inbox",
    "RequestObserver",
    "StoredRecording",
]
