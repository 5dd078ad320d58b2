"""The 12345 flow through the real Asterisk: SIPp callers pressing RFC 2833 keys."""

from __future__ import annotations

import array
import asyncio
import hashlib
import os
import signal
import wave
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from callcenter.calendar import CalendarConfig, WorkCalendar
from callcenter.ivr.prompts import PromptLibrary
from callcenter.ivr.registry import IvrPaths, load_runtime
from callcenter.ivr.simulator import simulate
from callcenter.tickets.changes import ActionRequest, NewTicket
from callcenter.tickets.deadlines import DeadlineConfig, Nature
from callcenter.tickets.service import TicketService
from callcenter.tickets.workflow import Action
from callcenter.users.roles import Actor, Role
from tests.integration.stack import (
    ROOT,
    caller_scenario,
    closed_calls,
    sipp,
    timeline,
    voicemail_ticket,
)

PROMPTS = ROOT / "ivr_flows" / "prompts"


async def call(db, tmp_path: Path, prefix: str, steps, *, hang_up: bool = True) -> dict:
    """One SIPp call with ``steps``; its closed call row."""
    result = await sipp(caller_scenario(tmp_path, steps, hang_up=hang_up), prefix, timeout_s=110)
    assert result.returncode == 0, result.output
    [row] = await closed_calls(db, prefix, 1)
    return row


async def opened(db, prefix: str) -> None:
    """Wait until the service has opened the call row of the caller ``prefix``
    (it names the flow version the call runs on)."""
    query = text(
        "SELECT 1 FROM calls WHERE caller_number LIKE :p AND flow_version IS NOT NULL LIMIT 1"
    )
    for _ in range(300):
        async with db.connect() as conn:
            if await conn.scalar(query, {"p": prefix + "%"}):
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no call from {prefix} reached the IVR within 15 s")


async def live_path(db, call_id) -> list[tuple[str, str]]:
    return [(d["flow"], d["node"]) for kind, d in await timeline(db, call_id) if kind == "ivr_node"]


async def simulated_path(service, digits: str) -> list[tuple[str, str]]:
    runtime = load_runtime(
        IvrPaths(
            service.flows_dir,
            PROMPTS,
            service.calendar,
            ROOT / "config" / "queues.yaml",
            ROOT / "config" / "lookup_fixture.yaml",
        )
    )
    result = await simulate(
        runtime,
        "12345",
        digits,
        at=datetime.now(runtime.calendar.zone),
        caller="13800000000",
        prompts=PromptLibrary(PROMPTS),
        out=lambda _line: None,
    )
    return result.path


def media_played(events) -> list[str]:
    return [
        d["media"].rsplit("/hotline/prompts/", 1)[-1]
        for kind, d in events
        if kind == "PlaybackStarted"
    ]  # one per media, also within a multi-media playback


async def a_real_ticket(db, phone: str = "13800000000") -> str:
    """A work order in the database the service uses, given from ``phone``; its query code."""
    tickets = TicketService(
        async_sessionmaker(db, expire_on_commit=False),
        WorkCalendar(CalendarConfig()),
        DeadlineConfig(),
    )
    ticket = await tickets.create(
        Actor("agent-ivr-test", Role.AGENT),
        NewTicket(
            channel="phone",
            nature=Nature.HELP,
            subject="路灯不亮",
            content="小区门口路灯坏了",
            caller_phone=phone,
        ),
    )
    await tickets.act(
        Actor("agent-ivr-test", Role.AGENT), ticket.id, ActionRequest(Action.ANSWER, text="已答复")
    )
    return ticket.query_code


async def test_status_lookup_by_query_code(hotline, db, caller_prefix, tmp_path):
    # The request was given from the phone the citizen calls from (SIPp's From:
    # the prefix and the call's number): the status is spoken without a question.
    code = await a_real_ticket(db, phone=f"{caller_prefix}1")
    row = await call(
        db,
        tmp_path,
        caller_prefix,
        [
            ("pause", 1000),
            ("keys", "2"),
            ("pause", 1500),
            ("keys", "1"),
            ("pause", 1500),
            ("keys", f"{code}#"),
            ("pause", 15000),
        ],
    )
    events = await timeline(db, row["id"])
    lookups = [d for kind, d in events if kind == "lookup"]
    # Read from the work-order database: answered, so the caller hears "replied".
    assert lookups == [
        {
            "node": "lookup_status",
            "query_code": code,
            "found": True,
            "verified_by": "caller",
            "status": "replied",
        }
    ]
    heard = media_played(events)
    assert "zh/enter_phone_last4" not in heard
    assert "zh/status_replied" in heard  # the caller heard the status
    assert [m for m in heard if m.startswith("zh/digits/")][: len(code)] == [
        f"zh/digits/{d}" for d in code
    ]
    assert row["flow"] == "12345"
    assert row["disposition"] == "abandoned"  # the caller hung up in the next menu
    # The simulator takes the same path for the same keys.
    path = await live_path(db, row["id"])
    assert ("12345", "lookup_status") in path
    assert (await simulated_path(hotline, f"2,1,{code}#"))[: len(path)] == path


async def test_status_lookup_from_another_phone_asks_its_last_four_digits(
    hotline, db, caller_prefix, tmp_path
):
    code = await a_real_ticket(db, phone="13912345678")
    row = await call(
        db,
        tmp_path,
        caller_prefix,
        [
            ("pause", 1000),
            ("keys", "2"),
            ("pause", 1500),
            ("keys", "1"),
            ("pause", 1500),
            ("keys", f"{code}#"),
            ("pause", 2500),  # 请输入……联系电话的后四位
            ("keys", "1234"),  # wrong
            ("pause", 2000),  # 对不起，……不符 (the next keys cut it short)
            ("keys", "5678"),
            ("pause", 20000),
        ],
    )
    events = await timeline(db, row["id"])
    assert [(k, d) for k, d in events if k in ("lookup", "lookup_verify")] == [
        ("lookup_verify", {"node": "lookup_status", "attempt": 1, "result": "wrong"}),
        (
            "lookup",
            {
                "node": "lookup_status",
                "query_code": code,
                "found": True,
                "verified_by": "last_four",
                "status": "replied",
            },
        ),
    ]
    heard = media_played(events)
    asked = heard.index("zh/enter_phone_last4")
    refused = heard.index("zh/lookup_verify_failed")
    assert asked < refused < heard.index("zh/lookup_intro") < heard.index("zh/status_replied")
    assert ("12345", "lookup_status") in await live_path(db, row["id"])


async def test_human_service_is_registered_and_a_message_is_recorded(
    hotline, db, caller_prefix, tmp_path
):
    row = await call(
        db,
        tmp_path,
        caller_prefix,
        [
            ("pause", 1000),
            ("keys", "1"),
            ("pause", 9000),
            ("talk", 7500),
        ],
    )
    async with db.connect() as conn:
        queue = (
            (
                await conn.execute(
                    text("SELECT * FROM queue_requests WHERE call_id = :c"), {"c": row["id"]}
                )
            )
            .mappings()
            .one()
        )
        message = (
            (
                await conn.execute(
                    text(
                        "SELECT v.*, r.name, r.size_bytes, r.sha256, r.duration_seconds, r.kind "
                        "FROM voicemails v JOIN recordings r ON r.id = v.recording_id "
                        "WHERE v.call_id = :c"
                    ),
                    {"c": row["id"]},
                )
            )
            .mappings()
            .one()
        )
    assert (queue["queue"], queue["flow"], queue["node"]) == ("general", "12345", "queue_general")
    assert message["caller_number"] == row["caller_number"]
    assert message["kind"] == "voicemail"
    # The message became a work order (channel voicemail) linked to the call.
    ticket = await voicemail_ticket(db, row["id"])
    assert (ticket["status"], ticket["channel"], ticket["caller_phone"]) == (
        "ticket",
        "voicemail",
        row["caller_number"],
    )
    assert ticket["ticket_status"] == "registered"  # waiting for an agent to complete it
    async with db.connect() as conn:
        linked = (
            await conn.execute(
                text("SELECT call_id FROM ticket_calls WHERE ticket_id = :t"),
                {"t": ticket["ticket_id"]},
            )
        ).scalar_one()
    assert linked == row["id"]
    assert message["name"].startswith("voicemail/")
    wav = ROOT / "recordings" / f"{message['name']}.wav"
    data = wav.read_bytes()
    assert len(data) == message["size_bytes"] > 44
    assert hashlib.sha256(data).hexdigest() == message["sha256"]
    assert loudness(wav) > 200  # the caller's speech, not silence
    assert row["last_stage"] == "voicemail/record"


def loudness(path: Path) -> float:
    """Root mean square of a 16-bit WAV's samples."""
    with wave.open(str(path)) as w:
        samples = array.array("h", w.readframes(w.getnframes()))
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


async def test_english_and_repeat(hotline, db, caller_prefix, tmp_path):
    row = await call(
        db,
        tmp_path,
        caller_prefix,
        [
            ("pause", 1000),
            ("keys", "9"),
            ("pause", 3000),
            ("keys", "0"),
            ("pause", 3000),
        ],
    )
    events = await timeline(db, row["id"])
    heard = media_played(events)
    assert heard.count("en/main_menu") == 2  # switched to English, then repeated
    assert "zh/main_menu" not in heard  # "9" was pressed ahead of the Chinese menu
    assert ("set", {"node": "to_english", "vars": {}, "language": "en"}) in events
    path = await live_path(db, row["id"])
    assert (await simulated_path(hotline, "9,0"))[: len(path)] == path


async def test_caller_hanging_up_mid_prompt(hotline, db, caller_prefix, tmp_path):
    row = await call(db, tmp_path, caller_prefix, [("pause", 2000)])
    assert row["disposition"] == "abandoned"
    assert row["last_stage"] == "12345/welcome"
    kinds = [kind for kind, _ in await timeline(db, row["id"])]
    assert "caller_left" in kinds and kinds[-1] == "StasisEnd"
    assert kinds.count("PlaybackStarted") == kinds.count("PlaybackFinished") == 1  # none left
    assert kinds.count("ivr_node") == 1


async def test_caller_who_never_presses_a_key(hotline, db, caller_prefix, tmp_path):
    row = await call(db, tmp_path, caller_prefix, [("pause", 75000)])
    events = await timeline(db, row["id"])
    kinds = [kind for kind, _ in events]
    assert kinds.count("menu_timeout") == 3
    assert kinds.index("menu_failed") < kinds.index("queue_requested")
    path = await live_path(db, row["id"])
    assert path[:4] == [
        ("12345", "welcome"),
        ("12345", "hours"),
        ("12345", "main_menu"),
        ("12345", "human"),
    ]
    assert (await simulated_path(hotline, ""))[: len(path)] == path


async def test_reload_during_a_live_call_does_not_disturb_it(hotline, db, caller_prefix, tmp_path):
    old_version = await hotline.use_flows("default")
    steps = [
        ("pause", 1000),
        ("keys", "2"),
        ("pause", 4000),
        ("keys", "1"),
        ("pause", 1500),
        ("keys", "20261128#"),
        ("pause", 12000),
    ]
    first = asyncio.create_task(call(db, tmp_path, caller_prefix + "1", steps))
    await opened(db, caller_prefix + "1")  # the first call is in the IVR, on the old flows
    # Ops staff change the self-service menu: the lookup moves from "1" to "3".
    flow = hotline.flows_dir / "12345.yaml"
    flow.write_text(
        flow.read_text().replace('"1": ask_query_code', '"1": goodbye\n      "3": ask_query_code')
    )
    status, body = await hotline.reload()
    assert status == 200 and body["version"] != old_version
    new_version = body["version"]
    # The menu changed, its recorded words did not: in service, with a warning for ops.
    assert any("self_service.choices.3" in w and "'3'" in w for w in body["warnings"])

    row = await first
    assert row["flow_version"] == old_version
    assert "lookup" in [kind for kind, _ in await timeline(db, row["id"])]

    # A new call takes the new version: "1" says goodbye and the hotline hangs up.
    second = await call(db, tmp_path, caller_prefix + "2", steps[:4], hang_up=False)
    assert second["flow_version"] == new_version
    assert ("12345", "lookup_status") not in await live_path(db, second["id"])

    # A broken set is refused and the one in service stays.
    flow.write_text(flow.read_text().replace("next: lookup_status", "next: nowhere"))
    status, body = await hotline.reload()
    assert status == 422
    assert body["version"] == new_version
    # In the language ops chose (ivr.messages_language, zh by default).
    assert any("12345.yaml" in e and "未知节点 'nowhere'" in e for e in body["errors"])
    hotline.copy_flows("default")
    os.kill(hotline.proc.pid, signal.SIGHUP)  # ops' other way to reload
    for _ in range(50):
        if await hotline.use_flows("default") == old_version:
            break
        await asyncio.sleep(0.1)
    assert await hotline.use_flows("default") == old_version
    # And the ops command line (it reaches the service on 127.0.0.1:8080 with
    # the token the service wrote, both named in the service's configuration).
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "callcenter"),
        "ivr",
        "reload",
        "-c",
        str(hotline.config_file),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    assert out.decode().strip() == f"reloaded: version {old_version}"


async def test_transfer_to_a_department(department, service, db, caller_prefix, tmp_path):
    await service.use_flows("transfer")
    row = await call(db, tmp_path, caller_prefix, [("pause", 5000), ("talk", 2000)])
    assert await asyncio.wait_for(department.wait(), 30) == 0  # answered, then got our BYE
    assert row["disposition"] == "transferred"
    transfers = [d for kind, d in await timeline(db, row["id"]) if kind == "transfer"]
    assert transfers == [{"node": "connect", "number": "88001234", "result": "connected"}]


async def test_invalid_key_message_from_self_service_and_back(hotline, db, caller_prefix, tmp_path):
    row = await call(
        db,
        tmp_path,
        caller_prefix,
        [
            ("pause", 1000),
            ("keys", "7"),
            ("pause", 2500),
            ("keys", "2"),
            ("pause", 1500),
            ("keys", "*"),
            ("pause", 1500),
            ("keys", "2"),
            ("pause", 1500),
            ("keys", "2"),
            ("pause", 11000),
            ("talk", 3000),
        ],
    )
    events = await timeline(db, row["id"])
    assert ("menu_invalid", {"node": "main_menu", "digit": "7", "attempt": 1}) in events
    choices = [(d["node"], d["digit"]) for kind, d in events if kind == "menu_choice"]
    assert choices == [
        ("main_menu", "2"),
        ("self_service", "*"),
        ("main_menu", "2"),
        ("self_service", "2"),
    ]
    path = await live_path(db, row["id"])
    assert path[-2:] == [("12345", "self_service_message"), ("voicemail", "record")]
    assert (await simulated_path(hotline, "7,2,*,2,2"))[: len(path)] == path
    async with db.connect() as conn:
        node = await conn.scalar(
            text("SELECT node FROM voicemails WHERE call_id = :c"), {"c": row["id"]}
        )
    assert node == "record"


async def test_survey_rating_is_stored(service, db, caller_prefix, tmp_path):
    await service.use_flows("survey")
    row = await call(db, tmp_path, caller_prefix, [("pause", 1500), ("keys", "4")], hang_up=False)
    async with db.connect() as conn:
        scores = (
            (
                await conn.execute(
                    text("SELECT score FROM surveys WHERE call_id = :c"), {"c": row["id"]}
                )
            )
            .scalars()
            .all()
        )
    assert scores == [4]
    assert row["disposition"] == "completed" and row["last_stage"] == "rating/bye"
