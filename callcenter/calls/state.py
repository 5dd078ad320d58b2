"""The call's lifecycle as an explicit state machine."""

from __future__ import annotations

import enum

from callcenter.errors import CallCenterError


class CallState(enum.Enum):
    NEW = "new"  # in Stasis, not answered
    ANSWERED = "answered"
    HANGING_UP = "hanging_up"  # we asked Asterisk to end it (or hand it back)
    ENDED = "ended"  # the channel is gone; the record is being closed


class IllegalTransition(CallCenterError):
    title = "Illegal call state transition"


_ALLOWED: dict[CallState, frozenset[CallState]] = {
    CallState.NEW: frozenset({CallState.ANSWERED, CallState.HANGING_UP, CallState.ENDED}),
    CallState.ANSWERED: frozenset({CallState.HANGING_UP, CallState.ENDED}),
    CallState.HANGING_UP: frozenset({CallState.ENDED}),
    CallState.ENDED: frozenset(),
}


def check_transition(current: CallState, new: CallState) -> CallState:
    """Return ``new`` if the lifecycle allows it, else raise IllegalTransition."""
    if new not in _ALLOWED[current]:
        raise IllegalTransition(f"call cannot go from {current.value} to {new.value}")
    return new
