"""Drive the real stack from tests: Asterisk via the project's scripts, the
service as a subprocess, SIPp callers, and the test database."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import yaml

from callcenter.calendar import WEEKDAYS
from callcenter.users import service_token

ROOT = Path(__file__).resolve().parents[2]
SIPP_DIR = ROOT / "tests" / "sipp"
LOGS = ROOT / "run" / "logs"
PCAP = Path("/usr/share/sip-tester/g711a.pcap")
HTTP = "http://127.0.0.1:8080"
# The lookup limits the tests' service runs with (tickets.public_lookup).
LOOKUP_LIMITS = {
    "tries_per_minute": 100_000,
    "client_failures": 100_000,
    "code_failures": 3,
    "lock_seconds": 3,
}


def asterisk(command: str) -> None:
    """scripts/asterisk.sh start|stop|restart — the same path `make up` takes."""
    subprocess.run(
        [str(ROOT / "scripts" / "asterisk.sh"), command], check=True, stdout=subprocess.DEVNULL
    )


def udp_bound(port: int) -> bool:
    """Something listens on UDP ``port`` (local_address is HEXIP:HEXPORT)."""
    wanted = f":{port:04X}"
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as f:
            if any(line.split()[1].endswith(wanted) for line in f.readlines()[1:]):
                return True
    return False


async def until_udp_bound(port: int, process: asyncio.subprocess.Process) -> None:
    """Until a SIPp peer we started listens on ``port``, so nobody dials it before
    it can answer; fails if ``process`` exits first."""
    deadline = time.monotonic() + 10
    while not udp_bound(port):
        if process.returncode is not None:
            raise AssertionError(f"SIPp on port {port} exited with {process.returncode}")
        assert time.monotonic() < deadline, f"nothing listens on UDP port {port} after 10 s"
        await asyncio.sleep(0.02)


# SIPp's own UDP ports: above Asterisk's RTP range (config/asterisk.yaml: 10000-20000)
# and below the kernel's ephemeral ports (32768+), handed out in turn. A port the
# kernel chose for bind(0) and we let go could be chosen again before SIPp binds
# it, and SIPp binds the media port + 2 too (video), which that choice never
# checked: SIPp then exits at once, its call never placed (a CI failure).
SIPP_PORTS = range(21000, 32000, 4)
_sipp_ports = itertools.cycle(SIPP_PORTS)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind(("0.0.0.0", port))  # taken on any address: not ours to use
        except OSError:
            return False
    return True


def free_udp_port() -> int:
    """A UDP port for SIPp (``-p`` or ``-mp``) free now with the three after it
    (a media port's RTCP and video), from SIPp's own range, not handed out again
    until the range comes round."""
    for _ in SIPP_PORTS:
        base = next(_sipp_ports)
        if all(_bindable(base + i) for i in range(4)):
            return base
    raise RuntimeError(f"no four free UDP ports in a row in {SIPP_PORTS}")


@dataclass
class SippResult:
    returncode: int
    output: str


async def sipp(
    scenario: str,
    caller_prefix: str,
    *,
    calls: int = 1,
    rate: int = 10,
    hangup_after_ms: int = 1000,
    timeout_s: int = 90,
    local_ip: str = "127.0.0.1",
) -> SippResult:
    """Place ``calls`` SIPp calls to 12345 from the citizen trunk (127.0.0.1), or
    from ``local_ip`` (any of 127/8 is this machine: 127.0.0.2 is a stranger)."""
    sip_port, media_port = free_udp_port(), free_udp_port()
    args = [
        "sipp",
        "127.0.0.1:5060",
        "-sf",
        str(SIPP_DIR / scenario),
        "-s",
        "12345",
        "-i",
        local_ip,
        "-p",
        str(sip_port),
        "-mp",
        str(media_port),
        "-key",
        "caller_prefix",
        caller_prefix,
        "-key",
        "pcap",
        str(PCAP),
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate),
        "-d",
        str(hangup_after_ms),
        "-timeout",
        f"{timeout_s}s",
        "-timeout_error",
        "-nostdin",
        "-max_recv_loops",
        "1000",
    ]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(LOGS),
    )
    out, _ = await proc.communicate()
    return SippResult(proc.returncode or 0, out.decode(errors="replace")[-3000:])


FLOW_SETS = {
    "simple": ROOT / "tests" / "integration" / "flows" / "simple",
    "default": ROOT / "ivr_flows",
    "transfer": ROOT / "tests" / "integration" / "flows" / "transfer",
    "survey": ROOT / "tests" / "integration" / "flows" / "survey",
    "queue": ROOT / "tests" / "integration" / "flows" / "queue",
}


def open_calendar(today: date) -> dict:
    """Staffed around the clock, and today and tomorrow are working days whatever
    the real calendar says, so the default flow's hours branch is deterministic."""
    return {
        "timezone": "Asia/Shanghai",
        "business_hours": {d: ["00:00-24:00"] for d in WEEKDAYS},
        "holiday_hours": ["00:00-24:00"],
        "extra_workdays": [today.isoformat(), (today + timedelta(days=1)).isoformat()],
    }


class Service:
    """``callcenter serve`` as a subprocess on the test database, with its own
    flows folder (so tests can swap flow sets and reload) and calendar."""

    def __init__(self, database_url: str, config_dir: Path) -> None:
        self.database_url = database_url
        self.config_dir = config_dir
        self.flows_dir = config_dir / "flows"
        self.calendar = config_dir / "calendar.yaml"
        self.roster = config_dir / "roster.yaml"
        self.queues = config_dir / "queues.yaml"
        self.flow_set = ""
        self.config_file: Path | None = None  # what the running process was started with
        self.record_spool = config_dir / "record-spool.jsonl"
        self.token_file = config_dir / "service-token"
        self._admin: dict[str, str] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def write_calendar(self, calendar: dict) -> None:
        self.calendar.write_text(yaml.safe_dump(calendar))

    def copy_flows(self, name: str) -> None:
        if self.flows_dir.exists():
            shutil.rmtree(self.flows_dir)
        self.flows_dir.mkdir()
        for flow in FLOW_SETS[name].glob("*.yaml"):
            shutil.copy(flow, self.flows_dir / flow.name)
        self.flow_set = name

    def auth(self) -> dict[str, str]:
        """The service token's header (what the command line sends): ops rights."""
        return service_token.headers(self.token_file)

    async def admin(self) -> dict[str, str]:
        """An admin user's header, for tests that act as the centre (made once)."""
        if self._admin is None:
            name = f"admin-{uuid.uuid4().hex[:8]}"
            await add_user(self.database_url, name, "admin")
            async with aiohttp.ClientSession() as http:
                self._admin = await token(http, name)
        return self._admin

    def write_config(self, grace: float) -> Path:
        base = yaml.safe_load((ROOT / "config" / "hotline.yaml").read_text())
        base["ari"]["password_file"] = str(ROOT / "run" / "secrets" / "ari-password")
        base["ari"]["reconnect_max_delay"] = 1.0
        base["calls"]["shutdown_grace_seconds"] = grace
        base["calls"]["record_spool"] = str(self.record_spool)
        base["http"] = {**base.get("http", {}), "service_token_file": str(self.token_file)}
        base["ivr"].update(
            {
                "flows_dir": str(self.flows_dir),
                "prompts_dir": str(ROOT / "ivr_flows" / "prompts"),
                "calendar": str(self.calendar),
                "queues": str(self.queues),
                "lookup_fixture": str(ROOT / "config" / "lookup_fixture.yaml"),
                "directory": str(ROOT / "config" / "directory.yaml"),
            }
        )
        base["tickets"] = {
            "deadlines": str(ROOT / "config" / "deadlines.yaml"),
            "catalogue": str(ROOT / "config" / "catalogue.yaml"),
            # Short locks the tests wait out; every test's requests come from
            # 127.0.0.1, so the address itself is never what locks.
            "public_lookup": LOOKUP_LIMITS,
        }
        base["acd"] = {
            "roster": str(self.roster),
            "seat_secrets": str(self.config_dir / "seats.yaml"),
            "seats_conf": str(ROOT / "run" / "asterisk" / "etc" / "pjsip_agents.conf"),
        }
        if not self.roster.exists():
            shutil.copy(ROOT / "agents" / "roster.yaml", self.roster)
        if not self.queues.exists():
            shutil.copy(ROOT / "config" / "queues.yaml", self.queues)
        if not self.flows_dir.exists():
            self.copy_flows("simple")
        if not self.calendar.exists():
            self.write_calendar(open_calendar(datetime.now(ZoneInfo("Asia/Shanghai")).date()))
        path = self.config_dir / f"hotline-grace{grace:g}.yaml"
        path.write_text(yaml.safe_dump(base, allow_unicode=True))
        self.config_file = path
        return path

    async def reload(self) -> tuple[int, dict]:
        async with aiohttp.ClientSession(headers=self.auth()) as http:
            async with http.post(f"{HTTP}/api/v1/ivr/reload") as resp:
                return resp.status, await resp.json(content_type=None)

    async def use_flows(self, name: str) -> str:
        """Serve flow set ``name`` (reloading if another is in service); its version."""
        if self.flow_set != name:
            self.copy_flows(name)
            status, body = await self.reload()
            assert status == 200, body
            return body["version"]
        async with aiohttp.ClientSession(headers=self.auth()) as http:
            async with http.get(f"{HTTP}/api/v1/ivr") as resp:
                return (await resp.json())["version"]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, grace: float) -> None:
        LOGS.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "DATABASE_URL": self.database_url}
        with open(LOGS / "test-callcenter.log", "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(ROOT / ".venv" / "bin" / "callcenter"),
                    "serve",
                    "-c",
                    str(self.write_config(grace)),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self, grace: float = 30.0) -> None:
        if not self.running:
            self._spawn(grace)
        await self.wait_healthy()

    async def wait_healthy(self, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise AssertionError(
                        f"service exited with {self.proc.returncode}; "
                        f"see {LOGS / 'test-callcenter.log'}"
                    )
                try:
                    async with http.get(f"{HTTP}/healthz") as resp:
                        if resp.status == 200:
                            return await resp.json()
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError("service did not become healthy")

    def terminate(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    async def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError("service did not exit")
            await asyncio.sleep(0.1)
        return self.proc.returncode

    async def stop(self) -> int | None:
        if not self.running:
            return None
        self.terminate()
        return await self.wait_exit()

    def kill(self) -> None:
        if self.running:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait()


PASSWORD = "correct horse battery"


async def add_user(database_url: str, name: str, role: str, department: str | None = None):
    args = [
        str(ROOT / ".venv" / "bin" / "callcenter"),
        "users",
        "add",
        name,
        "--role",
        role,
        "--password-stdin",
    ]
    if department:
        args += ["--department", department]
    proc = await asyncio.create_subprocess_exec(
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "DATABASE_URL": database_url},
        cwd=ROOT,
    )
    out, _ = await proc.communicate(PASSWORD.encode() + b"\n")
    assert proc.returncode == 0, out.decode()


async def token(http: aiohttp.ClientSession, name: str) -> dict[str, str]:
    async with http.post(
        f"{HTTP}/api/v1/auth/token", json={"username": name, "password": PASSWORD}
    ) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}


class CappedService(Service):
    """The tests' service serving at most ``max_calls`` calls at once."""

    def __init__(self, database_url: str, config_dir: Path, max_calls: int) -> None:
        super().__init__(database_url, config_dir)
        self.max_calls = max_calls

    def write_config(self, grace: float) -> Path:
        path = super().write_config(grace)
        config = yaml.safe_load(path.read_text())
        config["calls"]["max_calls"] = self.max_calls
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        return path


def capped_fixture(max_calls: int) -> Callable[..., AsyncIterator[CappedService]]:
    """A fixture: a service capped at ``max_calls`` in place of the running one
    (one service per machine, on port 8080): the next test that needs that one
    starts it again."""

    @pytest.fixture
    async def capped(
        service_process: Service, database_url: str, tmp_path: Path
    ) -> AsyncIterator[CappedService]:
        await service_process.stop()
        service = CappedService(database_url, tmp_path, max_calls)
        await service.start()
        yield service
        await service.stop()

    return capped


async def open_call_id(db, prefix: str, caller: asyncio.Task[SippResult]) -> str:
    """The id of the test's call in progress, once its row is written; fails at
    once, with SIPp's own words, when the ``caller`` placing it has exited."""
    from sqlalchemy import text

    for _ in range(100):
        async with db.connect() as conn:
            found = await conn.scalar(
                text("SELECT id FROM calls WHERE caller_number LIKE :p AND ended_at IS NULL"),
                {"p": prefix + "%"},
            )
        if found is not None:
            return str(found)
        if caller.done():
            result = caller.result()
            raise AssertionError(
                f"the call never started: SIPp exited {result.returncode}\n{result.output}"
            )
        await asyncio.sleep(0.1)
    raise AssertionError("the call never started")


async def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        await asyncio.sleep(0.1)


async def closed_calls(db, caller_prefix: str, expected: int, timeout: float = 30.0) -> list[dict]:
    """The test's call rows once ``expected`` of them are closed (ended_at set)."""
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        async with db.connect() as conn:
            result = await conn.execute(
                text("SELECT * FROM calls WHERE caller_number LIKE :p ORDER BY caller_number"),
                {"p": caller_prefix + "%"},
            )
            rows = [dict(r._mapping) for r in result]
        if sum(r["ended_at"] is not None for r in rows) >= expected:
            return rows
        await asyncio.sleep(0.2)
    raise AssertionError(f"expected {expected} closed calls for {caller_prefix}, got {rows}")


async def voicemail_ticket(db, call_id, timeout: float = 15.0) -> dict:
    """The call's voicemail joined with the ticket it became, once it has one.

    The ticket is written just after the message's rows are committed, in the
    background, so it may trail the call's close by a moment.
    """
    from sqlalchemy import text

    deadline = time.monotonic() + timeout
    while True:
        async with db.connect() as conn:
            row = (
                (
                    await conn.execute(
                        text(
                            "SELECT v.status, v.caller_number, r.size_bytes, t.id AS ticket_id, "
                            "t.channel, t.caller_phone, t.status AS ticket_status "
                            "FROM voicemails v JOIN recordings r ON r.id = v.recording_id "
                            "LEFT JOIN tickets t ON t.id = v.ticket_id WHERE v.call_id = :c"
                        ),
                        {"c": call_id},
                    )
                )
                .mappings()
                .one_or_none()
            )
        if (row is not None and row["ticket_id"] is not None) or time.monotonic() > deadline:
            assert row is not None, f"no voicemail for call {call_id}"
            return dict(row)
        await asyncio.sleep(0.2)


async def timeline(db, call_id) -> list[tuple[str, dict]]:
    from sqlalchemy import text

    async with db.connect() as conn:
        result = await conn.execute(
            text("SELECT kind, detail FROM call_events WHERE call_id = :c ORDER BY id"),
            {"c": call_id},
        )
        return [(r.kind, r.detail) for r in result]


def dtmf_pcap(directory: Path, key: str, index: int) -> Path:
    """SIPp's RFC 2833 capture for ``key``, renumbered as the call's ``index``-th key.

    The shipped captures share one SSRC but carry unrelated sequence numbers and
    timestamps; played one after another, Asterisk takes most keys for stale,
    reordered packets and drops them. Rewriting them to climb keeps every key.
    """
    data = bytearray((PCAP.parent / DTMF_PCAP[key]).read_bytes())
    offset, packet = 24, 0  # past the pcap global header
    while offset < len(data):
        length = struct.unpack_from("<I", data, offset + 8)[0]
        rtp = offset + 16 + 42  # record header, then Ethernet + IPv4 + UDP
        struct.pack_into(">HI", data, rtp + 2, 1000 + index * 16 + packet, 160_000 * (index + 1))
        offset += 16 + length
        packet += 1
    path = directory / f"key{index}-{'pound' if key == '#' else 'star' if key == '*' else key}.pcap"
    path.write_bytes(bytes(data))
    return path


DTMF_PCAP = {
    **{d: f"dtmf_2833_{d}.pcap" for d in "0123456789"},
    "#": "dtmf_2833_pound.pcap",
    "*": "dtmf_2833_star.pcap",
}


def caller_scenario(directory: Path, steps: list[tuple[str, str | int]], *, hang_up: bool) -> Path:
    """Write a SIPp caller that, once answered, follows ``steps`` and then either
    hangs up (``hang_up``) or waits for the hotline's BYE.

    Steps: ("pause", ms), ("keys", "21#") as RFC 2833 events, ("talk", ms)
    sending speech (SIPp's g711a.pcap, about 7 s) and then silence.
    """
    until_bye = (SIPP_DIR / "caller_until_bye.xml").read_text()
    head = until_bye.split("  <nop>\n", 1)[0]  # INVITE ... ACK
    if hang_up:
        ending = (SIPP_DIR / "caller_hangs_up.xml").read_text().split("  <pause/>\n", 1)[1]
    else:
        ending = until_bye[until_bye.index('  <recv request="BYE"') :]
    actions = []
    keys_sent = 0
    for kind, value in steps:
        if kind == "pause":
            actions.append(f'  <pause milliseconds="{value}"/>')
        elif kind == "keys":
            for key in str(value):
                pcap = dtmf_pcap(directory, key, keys_sent)
                keys_sent += 1
                actions.append(f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>')
                actions.append('  <pause milliseconds="400"/>')
        elif kind == "talk":
            actions.append(f'  <nop><action><exec play_pcap_audio="{PCAP}"/></action></nop>')
            actions.append(f'  <pause milliseconds="{value}"/>')
        else:
            raise ValueError(kind)
    path = directory / f"caller-{len(list(directory.glob('caller-*.xml')))}.xml"
    path.write_text(head + "\n".join(actions) + "\n" + ending)
    return path


class SippAgent:
    """An agent's softphone: registers the seat (digest auth) and answers (or not)."""

    def __init__(
        self,
        seat: str,
        password: str,
        behaviour: str = "agent_answers.xml",
        talk_ms: int = 3000,
        calls: int = 100,
        keys: dict[str, str] | None = None,
    ) -> None:
        self.seat = seat
        self.password = password
        self.behaviour = behaviour
        self.talk_ms = talk_ms
        self.calls = calls
        self.keys = keys or {}
        self.port = free_udp_port()
        self.uas: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.uas = await asyncio.create_subprocess_exec(
            "sipp",
            "-sf",
            str(SIPP_DIR / self.behaviour),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-mp",
            str(free_udp_port()),
            "-m",
            str(self.calls),
            "-d",
            str(self.talk_ms),
            "-key",
            "pcap",
            str(PCAP),
            *[arg for key, value in self.keys.items() for arg in ("-key", key, value)],
            "-nostdin",
            "-timeout",
            "300s",
            "-trace_err",
            "-trace_msg",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=str(LOGS),
        )
        await until_udp_bound(self.port, self.uas)
        await self.register(3600)

    async def register(self, expires: int) -> None:
        proc = await asyncio.create_subprocess_exec(
            "sipp",
            "127.0.0.1:5060",
            "-sf",
            str(SIPP_DIR / "register.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(free_udp_port()),
            "-m",
            "1",
            "-au",
            self.seat,
            "-ap",
            self.password,
            "-key",
            "seat",
            self.seat,
            "-key",
            "contact_port",
            str(self.port),
            "-key",
            "expires",
            str(expires),
            "-nostdin",
            "-timeout",
            "10s",
            "-timeout_error",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=str(LOGS),
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0, f"REGISTER {self.seat} failed: {out.decode()[-1500:]}"

    async def stop(self) -> None:
        await self.register(0)
        if self.uas is not None and self.uas.returncode is None:
            self.uas.kill()
            await self.uas.wait()


async def start_department() -> asyncio.subprocess.Process:
    """A city department behind the dial-out trunk (127.0.0.1:5090): answers one call
    and waits for its BYE; the process exits 0 when that happened."""
    process = await asyncio.create_subprocess_exec(
        "sipp",
        "-sn",
        "uas",
        "-i",
        "127.0.0.1",
        "-p",
        "5090",
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "60s",
        "-timeout_error",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await until_udp_bound(5090, process)  # listening before anybody dials
    return process
