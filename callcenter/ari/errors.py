"""ARI failures as exceptions call code can catch by meaning.

404 and 409 matter most: they are how a REST call learns that the caller has
already hung up (the channel is gone) or is not in the state the call assumed.
"""

from callcenter.errors import CallCenterError


class AriError(CallCenterError):
    title = "Asterisk REST Interface error"


class AriUnavailable(AriError):
    """Asterisk could not be reached (connection refused, timeout, restart)."""


class AriHttpError(AriError):
    """Asterisk answered with an HTTP error status."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        super().__init__(f"{method} {path} -> {status}: {message}")
        self.status = status
        self.method = method
        self.path = path
        self.message = message


class AriNotFound(AriHttpError):
    """404: the channel, bridge or playback does not exist (any more)."""


class AriConflict(AriHttpError):
    """409: the object exists but is in the wrong state for this request."""


def http_error(status: int, method: str, path: str, message: str) -> AriHttpError:
    """Pick the most specific class for an HTTP error status."""
    cls: type[AriHttpError]
    if status == 404:
        cls = AriNotFound
    elif status in (409, 412):
        cls = AriConflict
    else:
        cls = AriHttpError
    return cls(status, method, path, message)
