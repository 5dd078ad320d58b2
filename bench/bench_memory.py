"""Does the service give memory back after a burst? RSS of `callcenter serve`
before, at the peak of, and after a burst of SIPp calls (and an overload burst
past a small call cap), printed as ratios to the idle baseline of the same run.

    flock /tmp/hotline-stack.lock .venv/bin/python bench/bench_memory.py \
        [--rate 100] [--seconds 10] [--hold-ms 3000] [--max-calls 1000] [--settle 20]

Holds the stack lock for the whole run (Asterisk and the service are started and
stopped here); the bench database is bench/stackbench.py's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import stackbench as sb

from tests.integration.stack import Service


class MemService(Service):
    """The tests' service (simple flow: welcome, hang up) with a chosen call cap."""

    max_calls = 1000

    def write_config(self, grace: float) -> Path:
        path = super().write_config(grace)
        data = yaml.safe_load(path.read_text())
        data["calls"].update({"max_calls": self.max_calls, "overload_prompt_slots": 200})
        data["log_level"] = "INFO"
        path.write_text(yaml.safe_dump(data, allow_unicode=True))
        return path


def sipp_args(rate: int, calls: int, hold_ms: int, prefix: str) -> list[str]:
    return [
        "127.0.0.1:5060",
        "-sf",
        str(sb.SIPP_DIR / "caller_hangs_up.xml"),
        "-s",
        "12345",
        "-i",
        "127.0.0.1",
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
        str(rate * (hold_ms // 1000 + 20)),
        "-d",
        str(hold_ms),
        "-recv_timeout",
        "15000",
        "-timeout",
        "180s",
    ]


async def backlog_empty(timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get("http://127.0.0.1:8080/healthz") as resp:
                body = await resp.json()
            if body["database"]["backlog"] == 0 and body["calls"]["active"] == 0:
                return
            await asyncio.sleep(0.5)


async def burst(
    pid: int, rate: int, seconds: int, hold_ms: int, settle: float, prefix: str
) -> dict[str, Any]:
    """RSS (kB) before, at the peak during, and after one burst."""
    before = sb.rss_kb([pid])
    peak = before
    workdir = sb.fresh_workdir("memory")
    run = asyncio.create_task(
        sb.run_sipp(sipp_args(rate, rate * seconds, hold_ms, prefix), workdir)
    )
    while not run.done():
        peak = max(peak, sb.rss_kb([pid]))
        await asyncio.sleep(0.25)
    stats = run.result()
    sb.drop_workdir(workdir)
    await sb.wait_no_channels()
    await backlog_empty()
    after_end = sb.rss_kb([pid])
    await asyncio.sleep(settle)  # what the service gives back once idle
    after = sb.rss_kb([pid])
    return {
        "rate": rate,
        "calls": stats.calls,
        "ok": stats.ok,
        "failed": stats.failed,
        "rss_before_kb": before,
        "rss_peak_kb": peak,
        "rss_at_end_kb": after_end,
        "rss_after_settle_kb": after,
    }


async def main(args: argparse.Namespace) -> None:
    url = sb.database_url(None)
    sb.prepare_database(url)
    results: dict[str, Any] = {}
    log = sb.LOGS / "test-callcenter.log"
    log_start = log.stat().st_size if log.exists() else 0
    with sb.stack_lock():
        systems = [("served", args.max_calls), ("overload", args.overload_cap)]
        for name, max_calls in [(n, m) for n, m in systems if m > 0]:
            config_dir = Path(tempfile.mkdtemp(prefix="memory-", dir=sb.WORK))
            service = MemService(url, config_dir)
            service.max_calls = max_calls
            sb.asterisk("start", bench=False, service_config=service.write_config(5.0))
            try:
                await service.start(grace=5.0)
                assert service.proc is not None
                pid = service.proc.pid
                await asyncio.sleep(3)
                sb.say(f"{name}: max_calls {max_calls}, {args.rate}/s for {args.seconds} s")
                bursts = [
                    await burst(pid, args.rate, args.seconds, args.hold_ms, args.settle, f"139{i}")
                    for i in range(args.bursts)
                ]
                results[name] = {"max_calls": max_calls, "bursts": bursts}
            finally:
                await service.stop()
                sb.asterisk("stop", bench=False)
    print(json.dumps(results, indent=2))
    with log.open("rb") as f:  # what the service's own trims gave back
        f.seek(log_start)
        for raw in f.read().decode(errors="replace").splitlines():
            if '"callcenter.memory"' in raw:
                print("service:", json.loads(raw)["message"])
    for name, r in results.items():
        for i, b in enumerate(r["bursts"], 1):
            base = b["rss_before_kb"] or 1
            print(
                f"{name} burst {i}: {b['calls']} calls ({b['failed']} failed), RSS "
                f"before {b['rss_before_kb'] / 1024:.0f} MB, peak ×{b['rss_peak_kb'] / base:.2f}, "
                f"at end ×{b['rss_at_end_kb'] / base:.2f}, "
                f"after {args.settle:g} s idle ×{b['rss_after_settle_kb'] / base:.2f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--hold-ms", type=int, default=3000)
    parser.add_argument("--max-calls", type=int, default=1000)
    parser.add_argument("--overload-cap", type=int, default=100, help="0: no overload run")
    parser.add_argument("--bursts", type=int, default=2)
    parser.add_argument("--settle", type=float, default=20.0)
    asyncio.run(main(parser.parse_args()))
