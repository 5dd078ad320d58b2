"""What operators scrape from /metrics: calls by stage, queues (waiting now, longest
wait), agents by state, event-loop lag, overload refusals; read from the live
objects at scrape time, so they move as the centre does."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from callcenter.acd.agents import AgentState
from callcenter.calls.metrics import STAGES, CallMetrics, LiveCollector, LoopLag
from callcenter.calls.state import CallState
from callcenter.web import health
from callcenter.web.keys import REGISTRY
from tests.unit.acd_support import Harness, config


@dataclass
class Call:
    state: CallState = CallState.NEW
    call_id: uuid.UUID = field(default_factory=uuid.uuid4)


class Centre:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.metrics = CallMetrics.create(self.registry)
        self.desk = Harness({"t1": config("t1"), "t2": config("t2")})
        self.calls: list[Call] = []
        self.refusing = 0
        self.registry.register(
            LiveCollector(
                lambda: self.calls, lambda: self.desk.acd, lambda: self.refusing, self.desk.clock
            )
        )


@pytest.fixture
async def centre() -> AsyncIterator[tuple[Centre, TestClient]]:
    c = Centre()
    app = web.Application()
    app[REGISTRY] = c.registry
    app.router.add_get("/metrics", health.metrics)
    async with TestClient(TestServer(app)) as client:
        yield c, client


async def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await client.get("/metrics")
    assert resp.status == 200
    out = {}
    for family in text_string_to_metric_families(await resp.text()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def stages(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {
        dict(labels)["stage"]: v
        for (name, labels), v in samples.items()
        if name == "hotline_calls_by_stage"
    }


def one(samples, name: str, **labels: str) -> float:  # type: ignore[no-untyped-def]
    return samples[(name, tuple(sorted(labels.items())))]


async def test_a_call_moves_through_the_stages_queues_and_agents(centre) -> None:  # type: ignore[no-untyped-def]
    c, client = centre
    got = await scrape(client)
    assert stages(got) == dict.fromkeys(STAGES, 0.0)
    assert one(got, "hotline_queue_waiting", queue="general") == 0.0
    assert one(got, "hotline_queue_longest_wait_seconds", queue="general") == 0.0
    assert one(got, "hotline_agents", state="logged_out") == 2.0
    assert one(got, "hotline_overload_refused_total", how="busy_prompt") == 0.0

    call = Call()
    c.calls.append(call)
    assert stages(await scrape(client))["arriving"] == 1.0
    call.state = CallState.ANSWERED
    assert stages(await scrape(client))["ivr"] == 1.0

    entry = c.desk.caller()
    call.call_id = entry.call_id
    c.desk.acd.enqueue(entry)
    c.desk.clock.advance(29)  # and the one second caller() moves on: 30 s
    got = await scrape(client)
    assert stages(got)["queue"] == 1.0 and stages(got)["ivr"] == 0.0
    assert one(got, "hotline_queue_waiting", queue="general") == 1.0
    assert one(got, "hotline_queue_longest_wait_seconds", queue="general") == 30.0

    c.desk.login("t1")  # the ACD reserves t1 for the caller: the seat rings
    got = await scrape(client)
    assert stages(got)["ringing"] == 1.0 and stages(got)["queue"] == 0.0
    assert one(got, "hotline_queue_waiting", queue="general") == 0.0
    assert one(got, "hotline_agents", state="ringing") == 1.0
    assert one(got, "hotline_agents", state="logged_out") == 1.0

    c.desk.acd.answered(c.desk["t1"], entry)
    got = await scrape(client)
    assert stages(got)["talking"] == 1.0
    assert one(got, "hotline_agents", state="on_call") == 1.0

    call.state = CallState.HANGING_UP
    c.refusing = 3
    got = await scrape(client)
    assert stages(got)["ending"] == 1.0 and stages(got)["overload"] == 3.0
    assert c.desk["t1"].state is AgentState.ON_CALL


async def test_event_loop_lag_is_measured_when_the_loop_stalls(centre) -> None:  # type: ignore[no-untyped-def]
    c, client = centre
    lag = LoopLag(c.registry, interval=0.01)
    watch = asyncio.create_task(lag.run())
    try:
        async with asyncio.timeout(5):
            await lag.measured.wait()  # running: a first, prompt measurement
        lag.measured.clear()
        time.sleep(0.3)  # noqa: ASYNC251 -- the stall under test: something blocks the loop
        assert lag.now() >= 0.25  # overdue right now, before the timer even fires
        async with asyncio.timeout(5):
            await lag.measured.wait()
        assert (c.registry.get_sample_value("hotline_event_loop_lag_seconds_sum") or 0) >= 0.25
        got = await scrape(client)
        assert one(got, "hotline_event_loop_lag_seconds_bucket", le="0.1") < one(
            got, "hotline_event_loop_lag_seconds_bucket", le="0.5"
        )
        assert "hotline_event_loop_lag_now_seconds" in {name for name, _ in got}
    finally:
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)


def test_the_overload_guard_reads_a_moving_average_one_pause_does_not_count() -> None:
    lag = LoopLag(CollectorRegistry())
    lag.note(1.6)  # one collector pause: the calls right after it are still served
    assert lag.now() == 1.6 and lag.smoothed() < 0.5
    for _ in range(10):  # seconds of lateness: the service is far behind
        lag.note(1.5)
    assert lag.smoothed() > 1.0
    for _ in range(20):  # caught up
        lag.note(0.0)
    assert lag.smoothed() < 0.05
