"""IVR → queue → agent: the service's ACD vs Asterisk's own IVR + app_queue.

SIPp citizens call, are answered with the welcome prompt, press 1 (RFC 2833)
KEY_AT ms after the answer and wait; SIPp seats (registered with digest auth,
all on one SIPp UAS) ring for 0.3 s, answer, talk TALK ms and hang up.

  service  `callcenter serve`, the real 12345 flows, queue `general` served by
           the bench agents (longest idle, wrap-up 1 s)
  native   the bench trunk's `queue` extension: Background(welcome, main menu),
           1 → Queue(bench-general) over the same seats (leastrecent, wrap-up 1 s),
           recording each conversation from the answer (MixMonitor, WAV) as the
           service does

Per system and rate: answered calls, answered calls/s (answers ÷ the span
from the first to the last seat ringing), p50/p99 from the caller's key to
the seat ringing (SIPp's own timestamps on both sides), failed calls, and CPU
milliseconds per call of Asterisk, the service and its PostgreSQL backends.
Then the ratios service ÷ native. Each system runs in its own hold of the
stack lock on a freshly started Asterisk in bench mode. Needs root. Usage:

    .venv/bin/python bench/bench_queue.py                    # both, one run
    .venv/bin/python bench/bench_queue.py --rates 2 --duration 5   # quick
    flock /tmp/hotline-stack.lock .venv/bin/python bench/bench_queue.py --system native

With --system, that system's results are merged into --results (default
run/bench/queue.json) and printed with the other's stored ones.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import stackbench as sb
import yaml

from callcenter import asteriskconf
from callcenter.acd.roster import AgentConfig, Roster, SeatSecrets
from callcenter.acd.seats import write_seats_conf

SYSTEMS = ("native", "service")
RATES = [2, 5, 8, 11]
SEATS_CONF = sb.ROOT / "run" / "asterisk" / "etc" / "pjsip_agents.conf"
HTTP = "http://127.0.0.1:8080"


@dataclass
class Step:
    rate: int
    calls: int
    ok: int
    failed: int
    answered: int
    answered_per_s: float | None
    key_to_ring_p50_ms: float | None
    key_to_ring_p99_ms: float | None
    cpu_ms: dict[str, float]
    load: float  # the machine's 1-minute load average at the step's end (others' work too)


@dataclass
class SystemRun:
    system: str
    measured_at: str
    seats: int
    talk_ms: int
    steps: list[Step]


def agent_id(index: int) -> str:
    return f"b{index:02d}"


def roster(seats: int) -> Roster:
    return Roster(
        agents={
            agent_id(i): AgentConfig(
                name=f"Bench {i}", seat=asteriskconf.bench_seat(i), skills={"general": 5}
            )
            for i in range(1, seats + 1)
        }
    )


def queues() -> dict[str, Any]:
    """The service's queues like bench/asterisk/queues.conf's: no announcements, wrap-up 1 s."""
    base = {
        "title": "bench",
        "strategy": "longest-idle",
        "ring_timeout_seconds": 15,
        "wrapup_seconds": 1,
        "max_wait_seconds": 120,
        "announce_every_seconds": 0,
        "entry_prompts": [],
        "overflow": {"action": "voicemail"},
    }
    return {"queues": {"general": base, "english": base, "enterprise": base}}


# -- SIPp scenarios -------------------------------------------------------------------


def caller_scenario(workdir: Path, key_at_ms: int) -> Path:
    """A citizen: INVITE … ACK, after ``key_at_ms`` logs the time and presses 1,
    then waits for the hotline's BYE."""
    from tests.integration.stack import dtmf_pcap

    until_bye = (sb.SIPP_DIR / "caller_until_bye.xml").read_text()
    head = until_bye.split("  <nop>\n", 1)[0]
    ending = until_bye[until_bye.index('  <recv request="BYE"') :]
    pcap = dtmf_pcap(workdir, "1", 0)
    middle = (
        f'  <pause milliseconds="{key_at_ms}"/>\n'
        '  <nop><action><log message="key [caller_prefix][call_number] [timestamp]"/>'
        f'<exec play_pcap_audio="{pcap}"/></action></nop>\n'
    )
    path = workdir / "citizen.xml"
    path.write_text(head + middle + ending.replace('timeout="60000"', 'timeout="180000"'))
    return path


def seat_scenario(workdir: Path) -> Path:
    """agent_answers_hangs_up.xml, logging when each INVITE (the ringing) arrives."""
    text = (sb.SIPP_DIR / "agent_answers_hangs_up.xml").read_text()
    marker = '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="seat"/>'
    assert marker in text
    text = text.replace(marker, marker + '\n      <log message="ring [$caller] [timestamp]"/>')
    path = workdir / "seat.xml"
    path.write_text(text)
    return path


NUMBER = re.compile(r"sip:\+?(\d+)@")


def read_log(path: Path, kind: str) -> dict[str, float]:
    """Number → epoch seconds from SIPp log lines 'KIND WHO DATE\\tTIME\\tEPOCH'."""
    out: dict[str, float] = {}
    if not path.exists():
        return out
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith(kind + " "):
            continue
        epoch = float(line.rsplit(None, 1)[1])
        who = line[len(kind) + 1 :]
        found = NUMBER.search(who)
        number = found.group(1) if found else who.split()[0]
        out.setdefault(number, epoch)
    return out


class Desk:
    """The bench seats: one SIPp UAS all seats register to, and their agents' states."""

    def __init__(self, seats: int, workdir: Path, secrets: SeatSecrets, talk_ms: int) -> None:
        self.seats = seats
        self.workdir = workdir
        self.secrets = secrets
        self.talk_ms = talk_ms
        self.port = sb.free_udp_port()
        self.log = workdir / "seat-log.txt"
        self.uas: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.uas = await asyncio.create_subprocess_exec(
            "sipp",
            "-sf",
            str(seat_scenario(self.workdir)),
            "-i",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-mp",
            str(sb.free_udp_port()),
            "-m",
            "1000000",
            "-d",
            str(self.talk_ms),
            "-key",
            "pcap",
            str(sb.PCAP),
            "-nostdin",
            "-trace_logs",
            "-log_file",
            str(self.log),
            "-max_recv_loops",
            "1000",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=str(self.workdir),
        )
        names = [asteriskconf.bench_seat(i) for i in range(1, self.seats + 1)]
        passwords = self.secrets.passwords(names)
        await asyncio.gather(*(self.register(s, passwords[s], 3600) for s in names))

    async def register(self, seat: str, password: str, expires: int) -> None:
        workdir = self.workdir / f"reg-{seat}"
        args = [
            "127.0.0.1:5060",
            "-sf",
            str(sb.SIPP_DIR / "register.xml"),
            "-i",
            "127.0.0.1",
            "-p",
            str(sb.free_udp_port()),
            "-m",
            "1",
            "-au",
            seat,
            "-ap",
            password,
            "-key",
            "seat",
            seat,
            "-key",
            "contact_port",
            str(self.port),
            "-key",
            "expires",
            str(expires),
            "-timeout",
            "10s",
            "-timeout_error",
        ]
        workdir.mkdir(exist_ok=True)
        stats = await sb.run_sipp(args, workdir)
        if stats.ok != 1:
            raise SystemExit(f"REGISTER {seat} failed:\n{stats.tail}")

    async def stop(self) -> None:
        if self.uas is not None and self.uas.returncode is None:
            self.uas.kill()
            await self.uas.wait()


async def reload_pjsip() -> None:
    async with (
        aiohttp.ClientSession(headers=sb.ari_headers()) as http,
        http.put(f"{sb.ARI}/ari/asterisk/modules/res_pjsip.so") as resp,
    ):
        if resp.status >= 300:
            raise SystemExit(f"res_pjsip reload: {resp.status} {await resp.text()}")


async def agents_available(url: str, seats: int) -> None:
    """An admin makes every bench agent available once its seat shows registered."""
    from tests.integration.stack import add_user, token

    name = f"bench-{uuid.uuid4().hex[:8]}"
    await add_user(url, name, "admin")
    async with aiohttp.ClientSession() as anon:
        headers = await token(anon, name)
    async with aiohttp.ClientSession(headers=headers) as http:
        for i in range(1, seats + 1):
            agent = agent_id(i)
            for _ in range(100):
                async with http.get(f"{HTTP}/api/v1/agents/{agent}") as resp:
                    if (await resp.json())["registered"]:
                        break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit(f"{agent} never showed as registered")
            body = {"state": "available"}
            async with http.post(f"{HTTP}/api/v1/agents/{agent}/state", json=body) as resp:
                if resp.status != 200:
                    raise SystemExit(f"{agent} available: {resp.status} {await resp.text()}")


async def step(
    system: str,
    rate: int,
    opts: argparse.Namespace,
    probes: dict[str, sb.Probe],
    desk: Desk,
) -> Step:
    calls = max(1, rate * opts.duration)
    workdir = sb.fresh_workdir(f"queue-{system}-{rate}")
    scenario = caller_scenario(workdir, opts.key_at)
    prefix = f"138{rate:02d}{int(time.time()) % 1000:03d}"
    source = "127.0.0.1" if system == "service" else asteriskconf.BENCH_SOURCE
    args = [
        "127.0.0.1:5060",
        "-sf",
        str(scenario),
        "-s",
        "12345" if system == "service" else "queue",
        "-i",
        source,
        "-p",
        str(sb.free_udp_port()),
        "-mp",
        str(sb.free_udp_port()),
        "-key",
        "caller_prefix",
        prefix,
        "-key",
        "pcap",
        str(sb.PCAP),
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(calls),
        "-recv_timeout",
        "180000",
        "-timeout",
        f"{opts.duration + 240}s",
        "-trace_logs",
        "-log_file",
        str(workdir / "citizen-log.txt"),
    ]
    meter = sb.CpuMeter(probes)
    meter.start()
    stats = await sb.run_sipp(args, workdir)
    await sb.wait_no_channels()
    await asyncio.sleep(1.0)
    cpu = meter.stop()
    keys = read_log(workdir / "citizen-log.txt", "key")
    rings = {n: t for n, t in read_log(desk.log, "ring").items() if n.startswith(prefix)}
    waits = [1000 * (rings[n] - keys[n]) for n in rings if n in keys]
    span = max(rings.values()) - min(rings.values()) if len(rings) > 1 else 0.0
    if not rings:
        sb.say(f"no seat rang for {prefix}… (caller numbers as the seats saw them?)")
    sb.drop_workdir(workdir)
    placed = stats.calls or calls
    return Step(
        rate=rate,
        calls=placed,
        ok=stats.ok,
        failed=stats.failed,
        answered=len(rings),
        answered_per_s=(len(rings) - 1) / span if span else None,
        key_to_ring_p50_ms=sb.percentile(waits, 50),
        key_to_ring_p99_ms=sb.percentile(waits, 99),
        cpu_ms={k: 1000 * v / placed for k, v in cpu.items()},
        load=os.getloadavg()[0],
    )


async def run_system(system: str, opts: argparse.Namespace, url: str) -> SystemRun:
    workdir = sb.fresh_workdir(f"queue-{system}")
    config_dir = workdir / "config"
    config_dir.mkdir()
    secrets = SeatSecrets(config_dir / "seats.yaml")
    bench_roster = roster(opts.seats)
    (config_dir / "roster.yaml").write_text(
        yaml.safe_dump({"agents": {k: v.model_dump() for k, v in bench_roster.agents.items()}})
    )
    (config_dir / "queues.yaml").write_text(yaml.safe_dump(queues()))
    desk = Desk(opts.seats, workdir, secrets, opts.talk)
    service: Any = None
    steps: list[Step] = []
    with sb.stack_lock():
        sb.say(f"queue {system}: starting Asterisk (bench mode), {opts.seats} seats")
        sb.asterisk("stop")
        bench_service = sb.bench_service(url, config_dir)
        bench_service.copy_flows("default")
        sb.asterisk("start", service_config=bench_service.write_config(5.0))
        try:
            write_seats_conf(bench_roster, secrets, SEATS_CONF)
            await reload_pjsip()
            probes: dict[str, sb.Probe] = {"asterisk": sb.expand(lambda: [sb.asterisk_pid()])}
            if system == "service":
                service = bench_service
                await service.start(grace=5.0)
                pid = int(service.proc.pid)
                probes["python"] = sb.expand(lambda: [pid])
                database = sb.database_name(url)
                probes["postgres"] = lambda: sb.postgres_backends(database)
            await desk.start()
            if system == "service":
                await agents_available(url, opts.seats)
            for rate in opts.rates:
                sb.say(f"queue {system}: {rate} calls/s for {opts.duration} s")
                done = await step(system, rate, opts, probes, desk)
                steps.append(done)
                sb.say(
                    f"queue {system}: {rate}/s: {done.answered} answered of {done.calls}, "
                    f"{done.failed} failed, key→ring p99 {sb.fmt(done.key_to_ring_p99_ms, 0)} ms"
                )
                if done.answered < done.calls or (done.key_to_ring_p99_ms or 0) > 10_000:
                    break  # the seats no longer keep up: higher rates only queue longer
        finally:
            await desk.stop()
            if service is not None:
                await service.stop()
            sb.asterisk("stop")
            sb.drop_workdir(workdir)
    return SystemRun(
        system, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), opts.seats, opts.talk, steps
    )


def report(results: dict[str, Any], fresh: set[str]) -> None:
    print(f"\nIVR → queue → agent, SIPp citizens and seats on this machine ({os.cpu_count()} CPUs)")
    print(
        f"{'system':8} {'rate/s':>6} {'calls':>6} {'failed':>6} {'answered':>8} {'ans/s':>6} "
        f"{'key→ring p50':>12} {'p99 ms':>7} {'Asterisk':>9} {'Python':>7} {'Postgres':>9}"
        f" {'load':>5}  (CPU ms per call)"
    )
    for system in SYSTEMS:
        run = results.get(system)
        if run is None:
            continue
        for s in run["steps"]:
            cpu = s["cpu_ms"]
            print(
                f"{system:8} {s['rate']:6} {s['calls']:6} {s['failed']:6} {s['answered']:8} "
                f"{sb.fmt(s['answered_per_s']):>6} {sb.fmt(s['key_to_ring_p50_ms'], 0):>12} "
                f"{sb.fmt(s['key_to_ring_p99_ms'], 0):>7} {sb.fmt(cpu.get('asterisk'), 2):>9} "
                f"{sb.fmt(cpu.get('python'), 2):>7} {sb.fmt(cpu.get('postgres'), 2):>9}"
                f" {sb.fmt(s.get('load')):>5}"
            )
        when = "this run" if system in fresh else f"stored, measured {run['measured_at']}"
        print(f"{'':8} ({run['seats']} seats, talk {run['talk_ms']} ms; {when})")
    service, native = results.get("service"), results.get("native")
    if service is None or native is None:
        return
    print("\nRatios service ÷ native at each rate:")
    by_rate = {s["rate"]: s for s in native["steps"]}
    for s in service["steps"]:
        n = by_rate.get(s["rate"])
        if n is None:
            continue
        total_s = sum(s["cpu_ms"].values())
        total_n = sum(n["cpu_ms"].values())
        parts = [f"CPU per call {total_s:.2f} ÷ {total_n:.2f} ms = {total_s / total_n:.2f}×"]
        if s["key_to_ring_p50_ms"] is not None and n["key_to_ring_p50_ms"]:
            parts.append(
                f"key→ring p50 {s['key_to_ring_p50_ms']:.0f} ÷ {n['key_to_ring_p50_ms']:.0f} ms"
            )
        if s["answered_per_s"] and n["answered_per_s"]:
            parts.append(f"answered/s {s['answered_per_s'] / n['answered_per_s']:.0%}")
        print(f"  {s['rate']:3}/s: " + "; ".join(parts))


def parse() -> argparse.Namespace:
    ap = sb.ladder_parser(__doc__, SYSTEMS, RATES, "citizens' calls per second", "queue.json")
    ap.add_argument("--seats", type=int, default=asteriskconf.BENCH_SEATS, help="agents (≤ 20)")
    ap.add_argument("--talk", type=int, default=1000, help="ms an agent talks (default 1000)")
    ap.add_argument("--key-at", type=int, default=1000, help="ms after answer the caller presses 1")
    opts = ap.parse_args()
    if not 1 <= opts.seats <= asteriskconf.BENCH_SEATS:
        ap.error(f"--seats: 1 to {asteriskconf.BENCH_SEATS} (bench/asterisk/queues.conf)")
    return opts


async def main() -> None:
    await sb.compare(SYSTEMS, parse(), run_system, report)


if __name__ == "__main__":
    asyncio.run(main())
