"""Asterisk's ARI keeps an HTTP connection open between requests (http.conf
session_keep_alive): no ``Connection: close``, one TCP connection for a run of
REST calls, so a call's requests pay no connect each. (That AriClient reuses a
kept-alive connection is a unit test against a local server.)"""

from __future__ import annotations

import types

import aiohttp

from callcenter.ari import AriClient


async def test_asterisk_keeps_the_connection_open_between_requests(ari: AriClient) -> None:
    opened: list[object] = []
    reused: list[object] = []

    async def on_create(_s: object, _c: types.SimpleNamespace, params: object) -> None:
        opened.append(params)

    async def on_reuse(_s: object, _c: types.SimpleNamespace, params: object) -> None:
        reused.append(params)

    trace = aiohttp.TraceConfig()
    trace.on_connection_create_end.append(on_create)
    trace.on_connection_reuseconn.append(on_reuse)
    auth = ari.session.headers["Authorization"]
    async with aiohttp.ClientSession(
        headers={"Authorization": auth},
        connector=aiohttp.TCPConnector(keepalive_timeout=10),
        trace_configs=[trace],
    ) as http:
        for path in ("/asterisk/info", "/channels", "/bridges") * 4:
            async with http.get(f"{ari.settings.url}/ari{path}") as resp:
                assert resp.status == 200
                assert resp.headers.get("Connection", "").lower() != "close"
                await resp.read()
    assert len(opened) == 1
    assert len(reused) == 11
