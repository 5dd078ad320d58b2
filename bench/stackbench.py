"""What the stack benchmarks share (bench_calls.py, bench_queue.py).

The stack lock (other helpers and tests use the same Asterisk and ports),
Asterisk started in bench mode (scripts/asterisk.sh with HOTLINE_ASTERISK_BENCH=1
adds the bench trunk and [bench] context, see bench/asterisk/), the service as
the integration tests start it, SIPp runs and their statistics, and CPU time
and memory per process tree read from /proc, so each system is charged only
for its own processes.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import csv
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from callcenter import asteriskconf  # noqa: E402
from tests.integration.stack import free_udp_port  # noqa: E402,F401 (SIPp's own ports)

LOCK = Path("/tmp/hotline-stack.lock")
LOGS = ROOT / "run" / "logs"
WORK = ROOT / "run" / "bench"
SIPP_DIR = ROOT / "tests" / "sipp"
PCAP = Path("/usr/share/sip-tester/g711a.pcap")
ARI = "http://127.0.0.1:8088"
HZ = os.sysconf("SC_CLK_TCK")
# Results, traces and the configuration copies under run/bench are root's alone
# (the SIPp peers the benches start inherit it).
os.umask(0o077)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# -- the stack lock ---------------------------------------------------------------


def _lock_held_by_ancestor() -> bool:
    """True when we run under ``flock /tmp/hotline-stack.lock ...`` already."""
    pid = os.getppid()
    while pid > 1:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return False
        if os.path.basename(argv[0]) == b"flock" and str(LOCK).encode() in argv:
            return True
        pid = ppid
    return False


@contextlib.contextmanager
def stack_lock() -> Iterator[None]:
    """Hold the stack lock for one system's run (not the whole benchmark)."""
    if _lock_held_by_ancestor():
        yield
        return
    with open(LOCK, "a") as handle:
        say("waiting for the stack lock")
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- Asterisk in bench mode -----------------------------------------------------------


def asterisk(command: str, *, bench: bool = True, service_config: Path | None = None) -> None:
    """scripts/asterisk.sh COMMAND; its render sizes Asterisk (file handles) for
    the call cap in ``service_config`` (HOTLINE_CONFIG) when given."""
    env = dict(os.environ)
    if service_config is not None:
        env["HOTLINE_CONFIG"] = str(service_config)
    if bench:
        env[asteriskconf.BENCH_ENV] = "1"
    else:
        env.pop(asteriskconf.BENCH_ENV, None)
    subprocess.run(
        [str(ROOT / "scripts" / "asterisk.sh"), command],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def asterisk_pid() -> int:
    return int((ROOT / "run" / "asterisk" / "run" / "asterisk.pid").read_text().strip())


def ari_password() -> str:
    return (ROOT / "run" / "secrets" / "ari-password").read_text().strip()


def ari_headers() -> dict[str, str]:
    token = base64.b64encode(f"hotline:{ari_password()}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def wait_no_channels(timeout: float = 60.0) -> int:
    """Wait until Asterisk holds no channel; how many are left at the timeout."""
    left = -1
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(headers=ari_headers()) as http:
        while time.monotonic() < deadline:
            async with http.get(f"{ARI}/ari/channels") as resp:
                left = len(await resp.json())
            if left == 0:
                return 0
            await asyncio.sleep(0.5)
    return left


# -- processes: CPU seconds and memory per tree ----------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds of the process and its reaped children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15).
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / HZ


def _all() -> dict[int, tuple[int, float]]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                out[int(entry)] = found
    return out


def tree(root: int, table: dict[int, tuple[int, float]] | None = None) -> list[int]:
    table = table if table is not None else _all()
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            pids.append(pid)
            todo.extend(p for p, (ppid, _) in table.items() if ppid == pid)
    return pids


def postgres_backends(database: str) -> list[int]:
    """PostgreSQL's backends connected to ``database`` (not the server's other work)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if cmd.startswith("postgres:") and f" {database} " in cmd:
            pids.append(int(entry))
    return pids


def rss_kb(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


Probe = Callable[[], list[int]]


class CpuMeter:
    """CPU seconds per named process group between ``start`` and ``stop``.

    Groups are re-resolved at each reading (PostgreSQL backends come and go);
    a process seen at the start and gone at the end is counted up to where it
    was last seen.
    """

    def __init__(self, probes: dict[str, Probe]) -> None:
        self.probes = probes
        self._first: dict[str, dict[int, float]] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        table = _all()
        return {
            name: {pid: table[pid][1] for pid in probe() if pid in table}
            for name, probe in self.probes.items()
        }

    def start(self) -> None:
        self._first = self._read()

    def stop(self) -> dict[str, float]:
        last = self._read()
        out = {}
        for name in self.probes:
            before, after = self._first.get(name, {}), last.get(name, {})
            out[name] = sum(after[p] - before.get(p, 0.0) for p in after)
        return out


def expand(probe: Probe) -> Probe:
    """A probe for the whole tree under each process ``probe`` names."""

    def pids() -> list[int]:
        table = _all()
        return [p for root in probe() for p in tree(root, table)]

    return pids


# -- SIPp ---------------------------------------------------------------------------


@dataclass
class SippStats:
    calls: int = 0
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    rtt_ms: list[float] = field(default_factory=list)
    returncode: int = 0
    tail: str = ""


def _stat_totals(path: Path) -> dict[str, str]:
    rows = list(csv.reader(path.read_text().splitlines(), delimiter=";"))
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) > 1 else {}


async def run_sipp(args: list[str], workdir: Path) -> SippStats:
    """SIPp with ``args`` plus statistics and response-time traces in ``workdir``."""
    stat_file = workdir / "stat.csv"
    full = [
        "sipp",
        *args,
        "-nostdin",
        "-trace_stat",
        "-stf",
        str(stat_file),
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_err",
        "-max_recv_loops",
        "1000",
    ]
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *full,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=str(workdir),
    )
    out, _ = await proc.communicate()
    stats = SippStats(seconds=time.monotonic() - started, returncode=proc.returncode or 0)
    stats.tail = out.decode(errors="replace")[-1500:]
    _collect(stats, workdir)
    return stats


def _collect(stats: SippStats, workdir: Path) -> None:
    """Totals from SIPp's statistics file, response times from its rtt trace."""
    stat_file = workdir / "stat.csv"
    totals = _stat_totals(stat_file) if stat_file.exists() else {}
    stats.ok = int(totals.get("SuccessfulCall(C)", 0))
    stats.failed = int(totals.get("FailedCall(C)", 0))
    stats.calls = int(totals.get("OutgoingCall(C)", 0)) or stats.ok + stats.failed
    for rtt in workdir.glob("*_rtt.csv"):
        for line in rtt.read_text().splitlines()[1:]:
            parts = line.split(";")
            with contextlib.suppress(ValueError, IndexError):
                stats.rtt_ms.append(float(parts[1]))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None when there is nothing to rank."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def fresh_workdir(name: str) -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=WORK))


def drop_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


# -- the database and the service ---------------------------------------------------


def database_url(given: str | None) -> str:
    """``given``, BENCH_DATABASE_URL, or the project's URL with the database hotline_bench."""
    url = given or os.environ.get("BENCH_DATABASE_URL")
    if not url:
        out = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "callcenter"), "db", "url"],
            check=True,
            capture_output=True,
            text=True,
            cwd=ROOT,
        ).stdout.strip()
        url = out.rsplit("/", 1)[0] + "/hotline_bench"
    return url


def prepare_database(url: str) -> None:
    """Create and migrate the bench's database (kept between runs)."""
    subprocess.run(
        [str(ROOT / "scripts" / "postgres.sh"), url], check=True, stdout=subprocess.DEVNULL
    )


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?")[0]


# The bench service's call cap: what Asterisk's file handles are sized for
# (with the busy prompt's slots), within this machine's hard limit of 20,000.
MAX_CALLS = 1000
BUSY_SLOTS = 100


def bench_service(url: str, config_dir: Path) -> Any:
    """The service as tests/integration/stack.py runs it, logging to
    run/logs/bench-callcenter.log, its call cap MAX_CALLS."""
    import yaml

    from tests.integration.stack import Service

    class BenchService(Service):
        def write_config(self, grace: float) -> Path:
            path: Path = super().write_config(grace)
            data = yaml.safe_load(path.read_text())
            data["calls"].update({"max_calls": MAX_CALLS, "overload_prompt_slots": BUSY_SLOTS})
            path.write_text(yaml.safe_dump(data, allow_unicode=True))
            return path

        def _spawn(self, grace: float) -> None:
            LOGS.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "DATABASE_URL": self.database_url}
            with open(LOGS / "bench-callcenter.log", "ab") as log:
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

    return BenchService(url, config_dir)


# -- profiles -----------------------------------------------------------------------


def py_spy() -> str | None:
    """py-spy (``pip install py-spy`` into the venv), if there is one."""
    venv = ROOT / ".venv" / "bin" / "py-spy"
    return str(venv) if venv.exists() else shutil.which("py-spy")


async def profile(pid: int, seconds: float, out: Path) -> None:
    """Sample ``pid`` for ``seconds`` without stopping it; collapsed stacks into ``out``."""
    spy = py_spy()
    if spy is None:
        say("no py-spy: pip install py-spy into .venv to profile")
        return
    proc = await asyncio.create_subprocess_exec(
        spy,
        "record",
        "--nonblocking",
        "--rate",
        "200",
        "-p",
        str(pid),
        "-d",
        str(max(1, round(seconds))),
        "-f",
        "raw",
        "-o",
        str(out),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    await proc.wait()
    # py-spy's output was seen empty right after it exited: wait for it to settle.
    size = -1
    for _ in range(25):
        now = _size(out)
        if now and now == size:
            return
        size = now
        await asyncio.sleep(0.2)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def profile_top(path: Path, count: int = 15) -> list[tuple[float, float, str]]:
    """(share of samples in it or below, share on top, function) — the hottest
    functions of a collapsed-stack profile, by inclusive share."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        samples = int(n)
        total += samples
        frames = [f.split(" (")[0] + " (" + f.split(" (")[-1] for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + samples
        own[frames[-1]] = own.get(frames[-1], 0) + samples
    if not total:
        return []
    ranked = sorted(own, key=lambda f: -own[f])[:count]
    return [(inclusive[f] / total, own[f] / total, f) for f in ranked]


# -- results ------------------------------------------------------------------------


def load_results(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, ValueError):
        return {}


def save_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, default=_plain))


def _plain(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    raise TypeError(type(value))


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


async def compare(
    systems: tuple[str, ...],
    opts: Any,
    run_system: Callable[[str, Any, str], Awaitable[Any]],
    report: Callable[[dict[str, Any], set[str]], None],
) -> None:
    """Run ``opts.system`` (or every system, in one run) and print the comparison;
    a single system's results are merged with those kept in ``opts.results``."""
    if os.geteuid() != 0:
        raise SystemExit("the bench starts Asterisk in its chroot: run it as root")
    url = database_url(opts.database_url)
    chosen = list(systems) if opts.system == "all" else [opts.system]
    if "service" in chosen:
        prepare_database(url)
    results = {} if opts.system == "all" else load_results(opts.results)
    for system in chosen:
        results[system] = asdict(await run_system(system, opts, url))
        save_results(opts.results, results)
    report(results, set(chosen))


def ladder_parser(
    doc: str | None, systems: tuple[str, ...], rates: list[int], rates_help: str, results: str
) -> argparse.ArgumentParser:
    """The options every ladder bench has: which system, the rates, how long
    each, where results are merged, the bench's database."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--system", choices=[*systems, "all"], default="all")
    ap.add_argument(
        "--rates",
        type=lambda v: [int(r) for r in v.split(",")],
        default=rates,
        help=f"{rates_help} (default %(default)s)",
    )
    ap.add_argument("--duration", type=int, default=20, help="seconds per rate (default 20)")
    ap.add_argument("--results", type=Path, default=WORK / results)
    ap.add_argument("--database-url", help="default: BENCH_DATABASE_URL or …/hotline_bench")
    return ap
