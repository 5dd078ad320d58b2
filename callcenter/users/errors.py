"""What the user service refuses, and why (mapped to HTTP once, in web/problems.py)."""

from __future__ import annotations

from callcenter.errors import CallCenterError


class UserError(CallCenterError):
    title = "User error"


class Unauthorized(UserError):
    title = "Unauthorized"


class TooManyAttempts(UserError):
    """Locked after repeated failures; the same for names that exist and names that don't."""

    title = "Too many failed logins"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


class UserNotFound(UserError):
    title = "No such user"


class UserConflict(UserError):
    """Exists already; or the change would leave no enabled admin."""

    title = "User change refused"


class NoSeat(UserError):
    """A supervisor without a seat (users.seat) cannot listen, whisper or barge."""

    title = "No seat"
