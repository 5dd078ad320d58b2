"""A queue stay taken over after a restart, against the in-memory Asterisk: the
conversation goes on in the bridge the killed process made (nothing created,
nothing played), and its end writes the stay and the recording once; a
waiting caller keeps its place and its holding bridge."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from callcenter.acd.agents import AgentState
from callcenter.ari import EventRouter
from callcenter.ari.events import parse_event
from callcenter.calls.acd_store import AcdStore
from callcenter.calls.ari_port import AriCallPort, DialOut
from callcenter.calls.destinations import Destinations
from callcenter.calls.journal import JOURNAL_VAR, CallJournal, Journal, row_id
from callcenter.calls.queue_call import QueueCall, QueueDeps
from callcenter.db.models import QueueCall as QueueCallRow
from callcenter.db.models import Recording
from callcenter.directory import Directory
from callcenter.ivr.port import CallInfo, QueueResult
from tests.unit.acd_support import T0, Harness, config, settle
from tests.unit.ari_payloads import message
from tests.unit.call_harness import until
from tests.unit.fake_ari import FakeAri

BRIDGE = "hotline-call-old"
LEG = "agent-old"
HOLD = "hotline-hold-old"
WAV = b"RIFF" + b"\x00" * 400


class RestartAri(FakeAri):
    """FakeAri plus what a taken-over stay asks of Asterisk."""

    def __init__(self, router: EventRouter) -> None:
        super().__init__(router)
        self.variables: dict[tuple[str, str], str] = {}

    async def subscribe(self, event_source: str) -> None:
        self.requests.append(("subscribe", event_source))

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        self.requests.append(("set_variable", channel_id, name))
        self._channel("POST", channel_id)
        self.variables[(channel_id, name)] = value

    async def delete_bridge(self, bridge_id: str) -> None:
        """Deleting a recorded bridge ends its recording, as Asterisk says."""
        await super().delete_bridge(bridge_id)
        if bridge_id == BRIDGE:
            recording = {
                "name": "calls/2026/03/02/old-1",
                "format": "wav",
                "target_uri": f"bridge:{bridge_id}",
                "state": "done",
                "duration": 70,
            }
            self.router.dispatch(parse_event(message("RecordingFinished", recording=recording)))

    async def stored_recording_file(self, name: str) -> bytes:
        self.requests.append(("stored_recording_file", name))
        return WAV

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        self.requests.append(("remove_channel", bridge_id, channel_id))

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        self.requests.append(("start_bridge_moh", bridge_id))

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> Any:
        self.requests.append(("record_bridge", bridge_id, name))

    async def play(self, *args: Any, **kwargs: Any) -> Any:
        self.requests.append(("play", *args))
        raise AssertionError("nothing may be played to a taken-over caller")

    def kinds(self) -> list[str]:
        return [r[0] for r in self.requests]


class Rows:
    """The record writer as the queue code uses it: rows in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, dict[str, Any]]] = []

    def insert(self, table: Any, values: dict[str, Any]) -> None:
        self.rows.append((table, values))

    def of(self, table: Any) -> list[dict[str, Any]]:
        return [v for t, v in self.rows if t is table]


class Steps:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def node(self, flow: str, node: str, node_type: str) -> None:
        pass

    def step(self, kind: str, **detail: Any) -> None:
        self.kinds.append(kind)


class Stay:
    """A caller and agent t1 as a killed process left them in Asterisk."""

    def __init__(self, resume: Journal) -> None:
        self.router = EventRouter()
        self.ari = RestartAri(self.router)
        self.desk = Harness({"t1": config("t1"), "t2": config("t2")})
        self.rows = Rows()
        self.steps = Steps()
        self.call_id = uuid.uuid4()
        caller = self.ari.caller("caller-1")
        registry = CollectorRegistry()
        destinations = Destinations(lambda: Directory([]), lambda: self.desk.acd.agents, registry)
        port = AriCallPort(
            self.ari,  # type: ignore[arg-type]
            caller,
            "caller-1",
            "13800000000",
            DialOut("PJSIP/{number}@dialout-trunk", "hotline", destinations),
            open_inbox=self.ari.open_inbox,
            close_inbox=self.router.unregister,
        )
        deps = QueueDeps(
            acd=self.desk.acd,
            store=AcdStore(self.rows),  # type: ignore[arg-type]
            prompts=None,  # type: ignore[arg-type]  (a taken-over stay says nothing)
            seat_endpoint="PJSIP/{seat}",
            dial_out="PJSIP/{number}@dialout-trunk",
            destinations=destinations,
            conversations={},
            app="hotline",
            bridge_prefix="hotline-",
            clock=self.desk.clock,
        )
        self.conversations = deps.conversations
        self.journal = CallJournal(self.ari, "caller-1", resume)  # type: ignore[arg-type]
        self.queue_call = QueueCall(
            port,
            deps,
            CallInfo(self.call_id, "13800000000", "12345"),
            self.steps,
            resume.queue or "general",
            resume.priority,
            list(resume.skills),
            "zh",
            journal=self.journal,
            resume=resume,
        )


def talk_journal(**changes: Any) -> Journal:
    values: dict[str, Any] = {
        "stage": "talk",
        "flow": "queue",
        "node": "wait",
        "queue": "general",
        "agent": "t1",
        "leg": LEG,
        "answered_at": T0,
        "bridge": BRIDGE,
        "recording": "calls/2026/03/02/old-1",
        "attempts": 1,
        "enqueued_at": T0 - timedelta(seconds=40),
    }
    values.update(changes)
    return Journal(**values)


async def test_a_taken_over_conversation_goes_on_and_ends_with_one_stay_and_recording() -> None:
    stay = Stay(talk_journal())
    stay.ari.channels[LEG] = "PJSIP/seat-t1"
    stay.ari.bridges[BRIDGE] = ["caller-1", LEG]
    stay.desk.acd.restore("t1", AgentState.ON_CALL, None, T0, str(stay.call_id))
    running = asyncio.create_task(stay.queue_call.run())
    await until(lambda: stay.call_id in stay.conversations)  # call control finds it again
    before = list(stay.ari.kinds())
    assert "create_bridge" not in before and "record_bridge" not in before
    assert "add_channel" not in before and "play" not in before  # untouched
    assert ("subscribe", f"bridge:{BRIDGE}") in stay.ari.requests
    stay.desk.clock.advance(30)
    stay.ari.hang_up("caller-1")  # the caller hangs up, as they would have anyway
    async with asyncio.timeout(10):
        assert await running is QueueResult.ANSWERED
    await settle()
    [row] = stay.rows.of(QueueCallRow)
    assert (row["agent_id"], row["answered_at"], row["outcome"]) == ("t1", T0, "answered")
    assert row["talk_seconds"] == 30.0  # from the first process's answer
    assert row["entered_at"] == T0 - timedelta(seconds=40)  # the caller's arrival
    [recording] = stay.rows.of(Recording)
    assert recording["name"] == "calls/2026/03/02/old-1"  # the file the first process began
    assert recording["sha256"] == hashlib.sha256(WAV).hexdigest()
    assert row["recording_id"] == recording["id"] and recording["duration_seconds"] == 70
    # Ids from the recording's name: the killed process would have written the same
    # rows, so whoever writes them, they land once (ON CONFLICT DO NOTHING on the id).
    assert row["id"] == row_id("stay", "calls/2026/03/02/old-1")
    assert recording["id"] == row_id("recording", "calls/2026/03/02/old-1")
    assert ("hangup", LEG) in stay.ari.requests and BRIDGE not in stay.ari.bridges
    assert stay.desk["t1"].state in (AgentState.WRAP_UP, AgentState.AVAILABLE)
    assert "conversation_resumed" in stay.steps.kinds and "agent_answered" not in stay.steps.kinds


async def test_a_conversation_whose_agent_left_meanwhile_still_writes_its_rows() -> None:
    stay = Stay(talk_journal(leg=None))
    stay.ari.bridges[BRIDGE] = ["caller-1"]
    async with asyncio.timeout(10):
        assert await stay.queue_call.run() is QueueResult.ANSWERED
    assert len(stay.rows.of(QueueCallRow)) == 1 and len(stay.rows.of(Recording)) == 1
    assert BRIDGE not in stay.ari.bridges


async def test_a_waiting_caller_keeps_its_place_and_its_holding_bridge() -> None:
    arrived = T0 - timedelta(minutes=3)
    resume = Journal(
        stage="queue",
        flow="queue",
        node="wait",
        queue="general",
        enqueued_at=arrived,
        hold_bridge=HOLD,
    )
    stay = Stay(resume)
    stay.ari.bridges[HOLD] = ["caller-1"]
    stay.desk.acd.seat_registered("seat-t1", True)  # staffed, but t1 is paused
    stay.desk.acd.restore("t1", AgentState.PAUSED, "break", T0)
    newer = stay.desk.enqueue()  # a caller who arrived after the restart
    running = asyncio.create_task(stay.queue_call.run())
    await until(lambda: stay.queue_call.entry in stay.desk.acd.waiting())
    assert stay.desk.acd.waiting() == [stay.queue_call.entry, newer]  # ahead of the newer one
    assert stay.queue_call.entry.enqueued_at == arrived
    assert "create_bridge" not in stay.ari.kinds()  # the music never stopped
    written = Journal.decode(stay.ari.variables[("caller-1", JOURNAL_VAR)])
    assert written is not None and written.enqueued_at == arrived and written.hold_bridge == HOLD
    stay.ari.hang_up("caller-1")
    async with asyncio.timeout(5):
        try:
            await running
        except Exception:  # the caller's hang-up ends the stay (ChannelGone)
            pass
    [row] = stay.rows.of(QueueCallRow)
    assert row["outcome"] == "abandoned" and row["entered_at"] == arrived
    assert HOLD not in stay.ari.bridges  # deleted once the caller left
