"""Route each event to the inbox registered for its channel or bridge."""

from __future__ import annotations

import logging
from collections.abc import Callable

from callcenter.ari.events import Event
from callcenter.ari.inbox import Inbox

log = logging.getLogger(__name__)

Fallback = Callable[[Event], None]


class EventRouter:
    """Synchronous fan-out from the single reader to per-call inboxes.

    ``dispatch`` never awaits, so events reach every inbox in the order the
    WebSocket delivered them, and one slow call never stalls another. Events
    that match no inbox go to ``fallback`` (where, for example, a StasisStart
    creates the call that will own the channel's inbox).
    """

    def __init__(self, fallback: Fallback | None = None) -> None:
        self._inboxes: dict[str, Inbox] = {}
        self.fallback = fallback

    def register(self, inbox: Inbox) -> Inbox:
        self._inboxes[inbox.key] = inbox
        return inbox

    def unregister(self, inbox: Inbox) -> None:
        if self._inboxes.get(inbox.key) is inbox:
            del self._inboxes[inbox.key]

    def inbox(self, key: str) -> Inbox | None:
        return self._inboxes.get(key)

    def keys(self) -> list[str]:
        return list(self._inboxes)

    def dispatch(self, event: Event) -> None:
        delivered = False
        for key in event.route_keys():
            inbox = self._inboxes.get(key)
            if inbox is not None:
                inbox.put(event)
                delivered = True
        if not delivered and self.fallback is not None:
            try:
                self.fallback(event)
            except Exception:  # a bad handler must not kill the only reader
                log.exception("fallback handler failed for %s", event.type)
