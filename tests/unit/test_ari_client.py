"""AriClient against a local aiohttp server standing in for Asterisk's ARI: typed
replies, errors by status, one kept-alive connection, round trips by path template."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.ari import AriClient, AriConflict, AriNotFound, AriSettings
from callcenter.ari.events import Bridge, Channel, decode_event
from tests.unit.ari_payloads import bridge_json, channel_json, message


class Asterisk:
    """What the fake ARI server saw: connections opened and requests (method, path, query)."""

    def __init__(self) -> None:
        self.connections: set[int] = set()
        self.requests: list[tuple[str, str, dict[str, str]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        transport = request.transport
        assert transport is not None
        self.connections.add(id(transport))
        self.requests.append((request.method, request.path, dict(request.query)))
        path = request.path
        if path == "/ari/channels":
            return web.json_response([channel_json("c-1"), channel_json("c-2", state="Up")])
        if path == "/ari/bridges":
            return web.json_response([bridge_json("hotline-1", ("c-1",)), bridge_json("b-2")])
        if path == "/ari/endpoints/PJSIP":
            return web.json_response(
                [
                    {"technology": "PJSIP", "resource": "seat-1001", "state": "online"},
                    {"technology": "PJSIP", "resource": "seat-1002", "state": "offline"},
                ]
            )
        if path == "/ari/channels/gone/answer":
            return web.json_response({"message": "Channel not found"}, status=404)
        if path == "/ari/channels/c-1/dial":
            return web.json_response({"message": "Channel not in Stasis application"}, status=409)
        if path == "/ari/channels/c-1/variable":
            if request.query["variable"] == "UNSET":
                return web.json_response({"message": "Provided variable was not found"}, status=404)
            return web.json_response({"value": "v-1"})
        if path.startswith("/ari/channels/c-1/play/"):
            return web.json_response(
                {"id": path.rsplit("/", 1)[1], "media_uri": "sound:hello", "state": "queued"},
                status=201,
            )
        return web.Response(status=204)


@pytest.fixture
async def asterisk() -> AsyncIterator[tuple[Asterisk, AriClient, list[tuple[str, str]]]]:
    seen = Asterisk()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", seen.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    observed: list[tuple[str, str]] = []
    settings = AriSettings(f"http://127.0.0.1:{server.port}", "hotline", "secret", app="hotline")
    client = AriClient(settings, observe=lambda method, path, _s: observed.append((method, path)))
    async with client:
        yield seen, client, observed
    await server.close()


async def test_lists_are_typed_objects(asterisk):
    _, client, _ = asterisk
    channels = await client.list_channels()
    assert [type(c) for c in channels] == [Channel, Channel]
    assert [(c.id, c.state, c.caller_number) for c in channels] == [
        ("c-1", "Ring", "13800138000"),
        ("c-2", "Up", "13800138000"),
    ]
    bridges = await client.list_bridges()
    assert bridges == [Bridge("hotline-1", "mixing", ("c-1",)), Bridge("b-2", "mixing", ())]
    endpoints = await client.list_endpoints("PJSIP")
    assert [(e.resource, e.online) for e in endpoints] == [
        ("seat-1001", True),
        ("seat-1002", False),
    ]


async def test_errors_by_status_and_variables(asterisk):
    _, client, _ = asterisk
    with pytest.raises(AriNotFound, match="Channel not found"):
        await client.answer("gone")
    with pytest.raises(AriConflict, match="not in Stasis"):
        await client.dial("c-1")
    assert await client.get_variable("c-1", "HOTLINE_CALL_ID") == "v-1"
    assert await client.get_variable("c-1", "UNSET") is None  # no such variable, not no channel


async def test_play_returns_the_playback_with_our_id_and_sends_the_media_list(asterisk):
    seen, client, _ = asterisk
    playback = await client.play("c-1", "pb-7", ["sound:a", "sound:b"], lang="zh")
    assert (playback.id, playback.state) == ("pb-7", "queued")
    assert seen.requests[-1] == (
        "POST",
        "/ari/channels/c-1/play/pb-7",
        {"media": "sound:a,sound:b", "lang": "zh"},
    )


async def test_requests_reuse_one_kept_alive_connection(asterisk):
    seen, client, _ = asterisk
    for _ in range(5):
        await client.answer("c-1")
        await client.list_channels()
    assert len(seen.requests) == 10
    assert len(seen.connections) == 1  # no Connection: close, no new TCP per request


async def test_round_trips_are_observed_by_template_never_by_id(asterisk):
    _, client, observed = asterisk
    await client.answer("c-1")
    await client.play("c-1", "pb-1", "sound:a")
    await client.hangup("c-2")
    await client.add_channel("hotline-1", "c-1")
    with pytest.raises(AriNotFound):
        await client.answer("gone")
    await client.list_channels()
    assert observed == [
        ("POST", "/channels/{id}/answer"),
        ("POST", "/channels/{id}/play/{playback}"),
        ("DELETE", "/channels/{id}"),
        ("POST", "/bridges/{id}/addChannel"),
        ("POST", "/channels/{id}/answer"),
        ("GET", "/channels"),
    ]


def test_decode_event_reads_text_and_bytes_and_refuses_non_objects():
    import json

    text = json.dumps(message("StasisEnd", channel=channel_json("c-9")), ensure_ascii=False)
    for raw in (text, text.encode()):
        event = decode_event(raw)
        assert event.type == "StasisEnd" and event.route_keys() == ("channel:c-9",)
    with pytest.raises(ValueError, match="JSON object"):
        decode_event("[1, 2]")
    with pytest.raises(ValueError):
        decode_event("{not json")


def test_a_dial_event_goes_to_the_dialled_channel():
    """Dial carries the dialled leg as ``peer``: its status (BUSY...) reaches the leg."""
    import json

    dial = {"type": "Dial", "application": "hotline", "dialstatus": "BUSY"}
    event = decode_event(json.dumps({**dial, "peer": channel_json("agent-1")}))
    assert event.route_keys() == ("channel:agent-1",)


async def test_round_trips_land_in_the_latency_histogram(asterisk):
    """hotline_ari_request_seconds, one series per method and path template."""
    from prometheus_client import CollectorRegistry

    from callcenter.web.ari_metrics import ari_latency

    _, client, _ = asterisk
    registry = CollectorRegistry()
    client.observe = ari_latency(registry)
    for channel_id in ("c-1", "c-2", "c-3"):
        await client.answer(channel_id)
    count = registry.get_sample_value(
        "hotline_ari_request_seconds_count", {"method": "POST", "path": "/channels/{id}/answer"}
    )
    assert count == 3.0
    series = {s.labels["path"] for m in registry.collect() for s in m.samples if "path" in s.labels}
    assert series == {"/channels/{id}/answer"}  # no series per channel id
