"""The root of the service's error tree.

Each subpackage subclasses :class:`CallCenterError`; the web layer maps the
classes to ``application/problem+json`` once, so the domain never raises HTTP
errors.
"""


class CallCenterError(Exception):
    """Anything the service reports on purpose."""

    title = "Call centre error"


class ConfigError(CallCenterError):
    """Configuration that cannot be used; the message names the file and field."""

    title = "Invalid configuration"
