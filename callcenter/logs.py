"""Log lines operators can search: one JSON object a line, naming the call.

Each call's task sets :data:`call_context` when it starts (``CallSession.run``),
so every line logged from that task and from whatever it awaits carries the
call's id, channel and agent without being passed along. Tasks the call
creates inherit the context too. HTTP handlers set the request id the same way.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import IO, Literal

LogFormat = Literal["json", "text"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True, slots=True)
class CallContext:
    """What identifies the work a log line belongs to."""

    call_id: str | None = None
    channel: str | None = None
    agent: str | None = None
    request_id: str | None = None


_NONE = CallContext()
call_context: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "hotline_call_context", default=None
)


def current() -> CallContext:
    """The current task's call and request, fields None where unknown."""
    return call_context.get() or _NONE


def set_call(call_id: object, channel: str | None = None) -> None:
    """Name the current task's call (from the call's own task, at its start).

    A task's context is its own copy, so this never leaks into another call.
    """
    call_context.set(CallContext(call_id=str(call_id), channel=channel))


def set_agent(agent: str | None) -> None:
    """The agent the current call is with, from now on (None: no agent any more)."""
    call_context.set(replace(current(), agent=agent))


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """Lines logged while an HTTP request is handled carry its id."""
    token = call_context.set(replace(current(), request_id=request_id))
    try:
        yield
    finally:
        call_context.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp (UTC, ISO 8601), level, logger, message,
    the call context's fields when set, ``exception`` with the traceback text."""

    def format(self, record: logging.LogRecord) -> str:
        ctx = current()
        line: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("call_id", "channel", "agent", "request_id"):
            value = getattr(ctx, key)
            if value is not None:
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class ContextTextFormatter(logging.Formatter):
    """The classic text line, with ``[call=… agent=…]`` appended when known."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ctx = current()
        tags = [
            f"{name}={value}"
            for name, value in (
                ("call", ctx.call_id),
                ("agent", ctx.agent),
                ("request", ctx.request_id),
            )
            if value is not None
        ]
        if not tags:
            return text
        head, sep, rest = text.partition("\n")  # keep a traceback below the tagged line
        return f"{head} [{' '.join(tags)}]{sep}{rest}"


def configure(level: str, fmt: LogFormat = "json", stream: IO[str] | None = None) -> None:
    """The root logger writes ``fmt`` lines to ``stream`` (stderr) from now on."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ContextTextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
