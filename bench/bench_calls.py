"""Answer + prompt + hang-up: the service on 12345 vs a minimal ARI app vs native dialplan.

SIPp callers on this machine (with RTP) call, are answered, hear the welcome
prompt and hang up HOLD ms after the answer, on a rising ladder of rates:

  native   the dialplan alone: Answer, Playback(welcome), Wait (bench trunk)
  bare     bench/bare_ari_app.py: answer + play over ARI, nothing else
  service  `callcenter serve` with the real 12345 flows (IVR + call records)

Per system and rate: failed calls, p50/p99 INVITE→200, CPU milliseconds per
call of Asterisk, of the Python process and of the PostgreSQL backends serving
the bench's database (from /proc, each process tree alone), and RSS before and
after the ladder. Then the ratios issue 11 targets: the service's Python CPU
per call ÷ the bare app's at each rate (≤ 2), and the highest zero-failure
rate, service ÷ bare (≥ 90%).

Every system runs in its own hold of the stack lock (taken here, unless run
under `flock /tmp/hotline-stack.lock`), on a freshly started Asterisk in
bench mode (bench/asterisk/). Needs root, like the integration tests. Usage:

    .venv/bin/python bench/bench_calls.py                      # all three, one run
    .venv/bin/python bench/bench_calls.py --rates 10,50 --duration 5   # quick
    flock /tmp/hotline-stack.lock .venv/bin/python bench/bench_calls.py --system bare

With --system, only that system runs; its results are merged into the
results file (--results, default run/bench/calls.json) and the comparison is
printed with the other systems' stored results, marked with their date.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import stackbench as sb

from callcenter import asteriskconf

SYSTEMS = ("native", "bare", "service")
RATES = [10, 25, 50, 75, 100, 125, 150, 200]
CITIZEN = "127.0.0.1"


@dataclass
class Step:
    rate: int
    calls: int
    ok: int
    failed: int
    p50_ms: float | None
    p99_ms: float | None
    cpu_ms: dict[str, float]  # per placed call, by process group
    seconds: float
    left_channels: int
    load: float  # the machine's 1-minute load average at the step's end (others' work too)


@dataclass
class SystemRun:
    system: str
    measured_at: str
    steps: list[Step]
    rss_kb_before: dict[str, int]
    rss_kb_after: dict[str, int]


class Target:
    """One system: what SIPp dials, from where, and whose processes to meter."""

    def __init__(self, system: str, database: str) -> None:
        self.system = system
        self.database = database
        self.proc: subprocess.Popen[bytes] | None = None
        self.service: Any = None
        self.extension = {"native": "native", "bare": "bare", "service": "12345"}[system]
        self.source = CITIZEN if system == "service" else asteriskconf.BENCH_SOURCE

    def python_pid(self) -> int | None:
        if self.service is not None and self.service.proc is not None:
            return int(self.service.proc.pid)
        return self.proc.pid if self.proc is not None else None

    def probes(self) -> dict[str, sb.Probe]:
        out: dict[str, sb.Probe] = {"asterisk": sb.expand(lambda: [sb.asterisk_pid()])}
        pid = self.python_pid()
        if pid is not None:
            out["python"] = sb.expand(lambda: [pid])
        if self.system == "service":
            out["postgres"] = lambda: sb.postgres_backends(self.database)
        return out

    def rss(self) -> dict[str, int]:
        groups = {k: v for k, v in self.probes().items() if k != "postgres"}
        return {name: sb.rss_kb(probe()) for name, probe in groups.items()}

    def _spawn_bare(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("bare_ari_app.py")),
                sb.ARI,
                "hotline",
                str(sb.ROOT / "run" / "secrets" / "ari-password"),
                asteriskconf.BENCH_APP,
            ],
            stdout=subprocess.PIPE,
        )

    async def start(self, service: Any) -> None:
        if self.system == "bare":
            self.proc = self._spawn_bare()
            assert self.proc.stdout is not None
            line = await asyncio.to_thread(self.proc.stdout.readline)
            if b"connected" not in line:
                raise SystemExit(f"the bare ARI app did not connect: {line!r}")
        elif self.system == "service":
            self.service = service
            await self.service.start(grace=5.0)

    async def stop(self) -> None:
        if self.service is not None:
            await self.service.stop()
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait()


def sipp_args(target: Target, rate: int, calls: int, hold_ms: int, duration: int) -> list[str]:
    return [
        "127.0.0.1:5060",
        "-sf",
        str(sb.SIPP_DIR / "caller_hangs_up.xml"),
        "-s",
        target.extension,
        "-i",
        target.source,
        "-p",
        str(sb.free_udp_port()),
        "-mp",
        str(sb.free_udp_port()),
        "-key",
        "caller_prefix",
        f"139{rate:03d}",
        "-key",
        "pcap",
        str(sb.PCAP),
        "-m",
        str(calls),
        "-r",
        str(rate),
        "-l",
        str(rate * (hold_ms // 1000 + 20)),
        "-d",
        str(hold_ms),
        "-recv_timeout",
        "10000",
        "-timeout",
        f"{duration + 60}s",
    ]


async def step(
    target: Target, rate: int, duration: int, hold_ms: int, profile: Path | None = None
) -> Step:
    calls = max(1, round(rate * duration))
    meter = sb.CpuMeter(target.probes())
    workdir = sb.fresh_workdir(f"{target.system}-{rate}")
    meter.start()
    spy = None
    pid = target.python_pid()
    if profile is not None and pid is not None:
        spy = asyncio.create_task(sb.profile(pid, duration, profile))
    stats = await sb.run_sipp(sipp_args(target, rate, calls, hold_ms, duration), workdir)
    if spy is not None:
        await spy
    left = await sb.wait_no_channels()
    await asyncio.sleep(1.0)  # the service's last records reach the database
    cpu = meter.stop()
    sb.drop_workdir(workdir)
    placed = stats.calls or calls
    if stats.ok + stats.failed == 0:
        sb.say(f"SIPp did not run:\n{stats.tail}")
    return Step(
        rate=rate,
        calls=placed,
        ok=stats.ok,
        failed=stats.failed,
        p50_ms=sb.percentile(stats.rtt_ms, 50),
        p99_ms=sb.percentile(stats.rtt_ms, 99),
        cpu_ms={k: 1000 * v / placed for k, v in cpu.items()},
        seconds=stats.seconds,
        left_channels=left,
        load=os.getloadavg()[0],
    )


async def run_system(system: str, opts: argparse.Namespace, url: str) -> SystemRun:
    target = Target(system, sb.database_name(url))
    config_dir = sb.fresh_workdir(f"config-{system}")
    with sb.stack_lock():
        sb.say(f"{system}: starting Asterisk (bench mode)")
        sb.asterisk("stop")
        service = sb.bench_service(url, config_dir)
        service.copy_flows("default")  # the real 12345 flows, open all day
        sb.asterisk("start", service_config=service.write_config(5.0))
        try:
            await target.start(service)
            # Warm-up (not measured): connections, caches, the first prompt read.
            await step(target, 10, 2, 1000)
            rss_before = target.rss()
            steps: list[Step] = []
            for rate in opts.rates:
                sb.say(f"{system}: {rate} calls/s for {opts.duration} s")
                profile = None
                if rate == opts.profile_rate and target.python_pid() is not None:
                    profile = sb.WORK / f"profile-{system}-{rate}.txt"
                done = await step(target, rate, opts.duration, opts.hold, profile)
                if profile is not None and profile.exists():
                    print_profile(system, rate, profile)
                steps.append(done)
                sb.say(
                    f"{system}: {rate}/s: {done.failed} of {done.calls} failed, "
                    f"p99 {sb.fmt(done.p99_ms, 0)} ms, CPU/call "
                    + ", ".join(f"{k} {v:.2f} ms" for k, v in done.cpu_ms.items())
                )
                if done.calls and done.failed / done.calls > opts.max_failed:
                    break
            rss_after = target.rss()
        finally:
            await target.stop()
            sb.asterisk("stop")
            sb.drop_workdir(config_dir)
    return SystemRun(
        system,
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        steps,
        rss_before,
        rss_after,
    )


def print_profile(system: str, rate: int, path: Path) -> None:
    print(f"\nProfile of {system}'s Python at {rate} calls/s (py-spy, {path}):")
    print(f"{'in+below':>8} {'on top':>7}  function")
    for inclusive, own, frame in sb.profile_top(path):
        print(f"{inclusive:8.1%} {own:7.1%}  {frame}")
    print()


# -- the report ---------------------------------------------------------------------


def highest(run: dict[str, Any], ok: Any) -> int:
    best = 0
    for s in run["steps"]:
        if not ok(s):
            break
        best = s["rate"]
    return best


def zero_failure(run: dict[str, Any]) -> int:
    return highest(run, lambda s: s["failed"] == 0 and s["calls"] > 0)


def report(results: dict[str, Any], fresh: set[str]) -> None:
    print(f"\nAnswer + prompt + hang-up, SIPp on this machine ({os.cpu_count()} CPUs)")
    head = (
        f"{'system':8} {'rate/s':>6} {'calls':>6} {'failed':>6} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'Asterisk':>9} {'Python':>7} {'Postgres':>9} {'load':>5}  (CPU ms per call)"
    )
    print(head)
    for system in SYSTEMS:
        run = results.get(system)
        if run is None:
            continue
        for s in run["steps"]:
            cpu = s["cpu_ms"]
            print(
                f"{system:8} {s['rate']:6} {s['calls']:6} {s['failed']:6} "
                f"{sb.fmt(s['p50_ms'], 0):>7} {sb.fmt(s['p99_ms'], 0):>7} "
                f"{sb.fmt(cpu.get('asterisk'), 2):>9} {sb.fmt(cpu.get('python'), 2):>7} "
                f"{sb.fmt(cpu.get('postgres'), 2):>9} {sb.fmt(s.get('load')):>5}"
            )
    print()
    for system in SYSTEMS:
        run = results.get(system)
        if run is None:
            continue
        p99_1s = highest(run, lambda s: s["failed"] == 0 and (s["p99_ms"] or 1e9) < 1000)
        rss = ", ".join(
            f"{k} {run['rss_kb_before'][k] // 1024}→{run['rss_kb_after'].get(k, 0) // 1024} MB"
            for k in run["rss_kb_before"]
        )
        when = "this run" if system in fresh else f"stored, measured {run['measured_at']}"
        print(
            f"{system:8} highest zero-failure rate {zero_failure(run)}/s "
            f"(and p99 < 1 s: {p99_1s}/s); RSS {rss}  [{when}]"
        )
    service, bare = results.get("service"), results.get("bare")
    if service is None or bare is None:
        return
    print("\nRatios (issue 11 targets):")
    bare_cpu = {s["rate"]: s["cpu_ms"].get("python") for s in bare["steps"]}
    for s in service["steps"]:
        other = bare_cpu.get(s["rate"])
        mine = s["cpu_ms"].get("python")
        if other and mine is not None:
            ratio = mine / other
            verdict = "ok" if ratio <= 2 else "over"
            print(
                f"  Python CPU per call at {s['rate']:3}/s: service {mine:.2f} ms ÷ bare "
                f"{other:.2f} ms = {ratio:.2f}×  (target ≤ 2×: {verdict})"
            )
    zb, zs = zero_failure(bare), zero_failure(service)
    if zb:
        share = zs / zb
        verdict = "ok" if share >= 0.9 else "under"
        print(
            f"  highest zero-failure rate: service {zs}/s ÷ bare {zb}/s = {share:.0%}  "
            f"(target ≥ 90%: {verdict})"
        )


def parse() -> argparse.Namespace:
    ap = sb.ladder_parser(__doc__, SYSTEMS, RATES, "calls per second, rising", "calls.json")
    ap.add_argument("--hold", type=int, default=3000, help="ms from answer to hang-up")
    ap.add_argument(
        "--max-failed",
        type=float,
        default=0.005,
        help="stop the ladder after a rate failing more than this share (default 0.005)",
    )
    ap.add_argument(
        "--profile-rate",
        type=int,
        help="sample the Python process with py-spy during this rate's step",
    )
    return ap.parse_args()


async def main() -> None:
    await sb.compare(SYSTEMS, parse(), run_system, report)


if __name__ == "__main__":
    asyncio.run(main())
