"""Transfers the call code places, against the in-memory Asterisk: a softphone's
REFER and an IVR transfer node reach only the directory and the seats."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from callcenter.ari import EventRouter
from callcenter.ari.events import Event
from callcenter.calls import legs
from callcenter.calls.ari_port import AriCallPort, DialOut
from callcenter.calls.conversation import Conversation, Dialling, Party
from callcenter.calls.destinations import Destinations
from callcenter.directory import Directory, Entry
from callcenter.ivr.port import TransferResult
from tests.unit.acd_support import Harness, config
from tests.unit.fake_ari import FakeAri

DIRECTORY = Directory([Entry("SWJ", "市水务局", "88001234", "88001299")])
BRIDGE = "hotline-call-1"
AGENT_LEG = "agent-1"


class Steps:
    """The call's timeline as the trace receives it; awaitable by kind."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, dict[str, Any]]] = []
        self._new = asyncio.Event()

    def node(self, flow: str, node: str, node_type: str) -> None:
        pass

    def step(self, kind: str, **detail: Any) -> None:
        self.steps.append((kind, detail))
        self._new.set()

    async def until(self, kind: str) -> dict[str, Any]:
        async with asyncio.timeout(5):
            while True:
                for k, detail in self.steps:
                    if k == kind:
                        return detail
                self._new.clear()
                await self._new.wait()


def refused(registry: CollectorRegistry, path: str) -> float | None:
    return registry.get_sample_value("hotline_transfers_refused_total", {"path": path})


class Call:
    """A caller talking with agent t1 in a mixing bridge; t2 free to take a transfer."""

    def __init__(self) -> None:
        self.router = EventRouter()
        self.ari = FakeAri(self.router)
        self.registry = CollectorRegistry()
        self.desk = Harness({"t1": config("t1"), "t2": config("t2")})
        self.desk.login("t2")
        self.destinations = Destinations(
            lambda: DIRECTORY, lambda: self.desk.acd.agents, self.registry
        )
        caller = self.ari.caller("caller-1")
        self.ari.channels[AGENT_LEG] = "PJSIP/seat-t1"
        self.ari.bridges[BRIDGE] = ["caller-1", AGENT_LEG]
        agent = legs.Leg(AGENT_LEG, self.ari.open_inbox(f"channel:{AGENT_LEG}"), created=True)
        self.trace = Steps()
        self.conversation = Conversation(
            uuid.uuid4(),
            "caller-1",
            caller,
            BRIDGE,
            "general",
            Dialling(
                ari=self.ari,  # type: ignore[arg-type]
                open_inbox=self.ari.open_inbox,
                close_inbox=self.router.unregister,
                app="hotline",
                dial_out="PJSIP/{number}@dialout-trunk",
                seat_endpoint="PJSIP/{seat}",
                ring_timeout=5,
                acd=self.desk.acd,
                destinations=self.destinations,
            ),
            self.trace,
            parties=[Party(agent, agent_id="t1")],
        )
        self.talking: asyncio.Task[Event | None] = asyncio.create_task(self.conversation.wait())

    async def caller_hangs_up(self) -> Event | None:
        self.ari.hang_up("caller-1")
        async with asyncio.timeout(5):
            ended = await self.talking
        await self.conversation.close()
        return ended


async def test_a_softphone_transfer_outside_the_directory_is_refused_and_the_call_stays(
    caplog: pytest.LogCaptureFixture,
):
    call = Call()
    with caplog.at_level(logging.WARNING, logger="callcenter.calls.destinations"):
        call.ari.softphone_transfer(AGENT_LEG, "0085212345678")
        refusal = await call.trace.until("transfer_refused")
    assert refusal["to"] == "0085212345678"
    assert call.ari.dialled() == []  # nothing went to the trunk
    assert ("transfer_progress", AGENT_LEG, "channel_unavailable") in call.ari.requests
    assert ("hangup", AGENT_LEG) not in call.ari.requests
    assert call.conversation.agents == ["t1"] and not call.talking.done()
    assert call.conversation.transferred_to is None
    assert refused(call.registry, "softphone") == 1.0
    assert refused(call.registry, "api") == 0.0
    assert "agent t1" in caplog.text and "'0085212345678'" in caplog.text
    assert await call.caller_hangs_up() is not None  # the caller's own hang-up ended it
    assert call.conversation.finished_agents == ["t1"]


@pytest.mark.parametrize(
    ("dialled", "endpoint", "key"),
    [
        ("88001234", "PJSIP/88001234@dialout-trunk", "dept:SWJ"),
        ("88001299", "PJSIP/88001299@dialout-trunk", "dept:SWJ/duty"),
        ("t2", "PJSIP/seat-t2", "agent:t2"),
    ],
)
async def test_a_softphone_transfer_to_the_directory_or_a_seat_goes_through(
    dialled: str, endpoint: str, key: str
):
    call = Call()
    call.ari.softphone_transfer(AGENT_LEG, dialled)
    done = await call.trace.until("transferred")
    assert done["destination"] == key
    assert call.ari.dialled() == [endpoint]
    assert ("transfer_progress", AGENT_LEG, "channel_answered") in call.ari.requests
    assert ("hangup", AGENT_LEG) in call.ari.requests  # blind: the agent leaves
    assert refused(call.registry, "softphone") == 0.0
    await call.caller_hangs_up()


async def test_an_attended_transfer_is_not_taken_for_a_number():
    call = Call()
    call.ari.softphone_transfer(AGENT_LEG, "")
    failed = await call.trace.until("transfer_failed")
    assert "blind" in failed["reason"]
    assert call.ari.dialled() == [] and call.conversation.agents == ["t1"]
    await call.caller_hangs_up()


# --- the IVR's transfer node ----------------------------------------------------------------
def ivr_port() -> tuple[AriCallPort, FakeAri, CollectorRegistry]:
    router = EventRouter()
    ari = FakeAri(router)
    registry = CollectorRegistry()
    gate = Destinations(lambda: DIRECTORY, lambda: {"t2"}, registry)
    port = AriCallPort(
        ari,  # type: ignore[arg-type]
        ari.caller("caller-1"),
        "caller-1",
        "13800000000",
        DialOut("PJSIP/{number}@dialout-trunk", "hotline", gate),
        open_inbox=ari.open_inbox,
        close_inbox=router.unregister,
    )
    return port, ari, registry


@pytest.mark.parametrize("number", ["0085212345678", "agent:t2", "t2"])
async def test_an_ivr_transfer_outside_the_directory_fails_without_dialling(number: str):
    port, ari, registry = ivr_port()
    assert await port.transfer(number, 10) is TransferResult.FAILED
    assert ari.dialled() == [] and ari.bridges == {}
    assert refused(registry, "ivr") == 1.0


async def test_an_ivr_transfer_to_a_department_dials_its_number():
    port, ari, registry = ivr_port()
    transfer = asyncio.create_task(port.transfer("dept:SWJ", 10))
    async with asyncio.timeout(5):
        leg = await ari.answered.get()
    await ari.until_joined(leg)  # talking with the caller
    ari.hang_up(leg)  # the department hangs up
    assert await transfer is TransferResult.CONNECTED
    assert ari.dialled() == ["PJSIP/88001234@dialout-trunk"]
    assert refused(registry, "ivr") == 0.0
