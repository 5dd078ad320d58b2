"""Asterisk's file-handle limit follows the service's call cap: rendered into
asterisk.conf (maxfiles) and read back by scripts/asterisk.sh, which sets it as
the process's hard and soft limit before Asterisk drops root."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path

from callcenter import asteriskconf
from callcenter.config import CallsConfig, load_settings

ROOT = Path(__file__).resolve().parents[2]


def rendered_conf(calls: CallsConfig | None) -> str:
    cfg = asteriskconf.load(ROOT / "config/asterisk.yaml")
    vals = asteriskconf.values(cfg, state="/s", moddir="/m", password="pw", calls=calls)
    return asteriskconf.render(ROOT / "asterisk-conf", vals)["asterisk.conf"]


def maxfiles_as_the_start_script_reads_it(conf: str, tmp_path: Path) -> int:
    """The same sed expression scripts/asterisk.sh uses on the rendered file."""
    script = (ROOT / "scripts/asterisk.sh").read_text()
    [line] = [x for x in script.splitlines() if "maxfiles=$(sed" in x]
    expression = line.split("sed -n '", 1)[1].split("'", 1)[0]
    path = tmp_path / "asterisk.conf"
    path.write_text(conf)
    out = subprocess.run(["sed", "-n", expression, str(path)], capture_output=True, text=True)
    return int(out.stdout)


def test_the_limit_grows_with_the_call_cap_and_the_start_script_reads_it(tmp_path: Path) -> None:
    small = CallsConfig(max_calls=100, overload_prompt_slots=10)
    large = CallsConfig(max_calls=3000, overload_prompt_slots=300)
    limits = {}
    for name, calls in (("small", small), ("large", large)):
        conf = rendered_conf(calls)
        limits[name] = maxfiles_as_the_start_script_reads_it(conf, tmp_path)
        assert f"\nmaxfiles = {limits[name]}\n" in conf
        # At least 8 handles a call (two channels' RTP and RTCP sockets, their
        # alert and timer fds) for every call served or hearing the busy prompt.
        calls_at_once = calls.max_calls + calls.overload_prompt_slots
        assert limits[name] >= 8 * calls_at_once + 1024
    assert limits["large"] - limits["small"] >= 16 * (3000 - 100)


def test_the_shipped_call_cap_fits_the_machine_whose_limit_ran_out(tmp_path: Path) -> None:
    """20,000 handles ran out at 300 calls/s with no cap; the shipped cap needs fewer,
    so past it calls are refused before Asterisk runs out."""
    calls = load_settings(ROOT / "config/hotline.yaml", environ={}).calls
    limit = maxfiles_as_the_start_script_reads_it(rendered_conf(calls), tmp_path)
    assert limit == asteriskconf.max_files(calls, 1000)
    assert limit <= 20_000
    assert asteriskconf.calls_within(limit, calls, 1000) == calls.max_calls


def test_a_machine_that_allows_fewer_handles_gets_its_own_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert asteriskconf.allowed_files(hard) == hard
    assert asteriskconf.allowed_files(min(hard, 1000)) == min(hard, 1000)
    # Past the hard limit: raised where root may (CAP_SYS_RESOURCE), else the hard limit.
    assert asteriskconf.allowed_files(hard + 1) in (hard, hard + 1)
    calls = CallsConfig(max_calls=5000, overload_prompt_slots=0)
    assert asteriskconf.calls_within(20_000, calls, 1000) == (20_000 - 1024 - 1000) // 16


def test_without_the_service_settings_the_defaults_size_it() -> None:
    assert f"maxfiles = {asteriskconf.max_files(CallsConfig(), 1000)}" in rendered_conf(None)
