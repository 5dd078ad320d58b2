"""Operators' log lines: JSON, each naming the call (or the HTTP request) it belongs to,
set once at the start of the call's task and never leaking into another call."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter import logs
from callcenter.config import load_settings
from callcenter.errors import ConfigError
from callcenter.web.request_ids import HEADER, echo_request_id, request_id_middleware

log = logging.getLogger("callcenter.test")


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The root logger as `serve` sets it up (JSON), into a buffer; restored after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    out = io.StringIO()
    logs.configure("INFO", "json", out)
    yield out
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def parsed(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def test_every_line_of_a_call_task_names_its_call_and_no_other(lines: io.StringIO) -> None:
    both_started = asyncio.Barrier(2)

    async def helper_it_awaits(n: int) -> None:
        log.info("helper of call %d", n)

    async def call(n: int) -> None:
        logs.set_call(f"call-{n}", f"chan-{n}")
        await both_started.wait()  # interleaved: each task keeps its own context
        log.info("started %d", n)
        await helper_it_awaits(n)
        logs.set_agent(f"agent-{n}")
        await asyncio.create_task(helper_it_awaits(n))  # a task it creates inherits it

    await asyncio.gather(call(1), call(2))
    log.info("outside any call")
    got = parsed(lines)
    for line in got[:-1]:
        n = str(line["message"])[-1]
        assert line["call_id"] == f"call-{n}" and line["channel"] == f"chan-{n}"
    assert [line.get("agent") for line in got if line.get("call_id") == "call-1"] == [
        None,
        None,
        "agent-1",
    ]
    assert "call_id" not in got[-1] and "agent" not in got[-1]
    assert {"timestamp", "level", "logger", "message"} <= set(got[-1])
    assert got[-1]["level"] == "INFO" and got[-1]["logger"] == "callcenter.test"


def test_an_exception_is_one_field_of_one_line(lines: io.StringIO) -> None:
    try:
        raise ValueError("bad 电话")
    except ValueError:
        log.exception("it failed")
    [line] = parsed(lines)
    assert line["message"] == "it failed"
    assert "ValueError: bad 电话" in str(line["exception"])
    assert str(line["exception"]).startswith("Traceback")


def test_text_format_tags_the_call_for_a_terminal() -> None:
    out = io.StringIO()
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        logs.configure("INFO", "text", out)

        async def call() -> None:
            logs.set_call("c-9", "chan-9")
            log.warning("slow")

        asyncio.run(call())
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in handlers:
            root.addHandler(h)
    assert out.getvalue().rstrip().endswith("WARNING callcenter.test: slow [call=c-9]")


async def test_http_request_lines_carry_the_request_id_which_the_answer_names(
    lines: io.StringIO,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        log.info("handling")
        return web.Response(text="ok")

    app = web.Application(middlewares=[request_id_middleware])
    app.on_response_prepare.append(echo_request_id)
    app.router.add_get("/", handler)
    async with TestClient(TestServer(app)) as client:
        mine = await client.get("/", headers={HEADER: "abc-123"})
        typed = await client.get("/", headers={HEADER: "x y {} ${jndi}"})
        none = await client.get("/")
    assert mine.headers[HEADER] == "abc-123"
    assert typed.headers[HEADER] != "x y {} ${jndi}" and len(typed.headers[HEADER]) == 16
    handled = [line for line in parsed(lines) if line["message"] == "handling"]
    assert [line["request_id"] for line in handled] == [
        "abc-123",
        typed.headers[HEADER],
        none.headers[HEADER],
    ]


def test_logging_format_is_json_unless_set_and_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "hotline.yaml"
    path.write_text("log_level: INFO\n")
    assert load_settings(path, environ={}).logging.format == "json"
    path.write_text("logging:\n  format: text\n")
    assert load_settings(path, environ={}).logging.format == "text"
    path.write_text("logging:\n  format: xml\n")
    with pytest.raises(ConfigError, match=r"hotline.yaml:2.*format"):
        load_settings(path, environ={})
