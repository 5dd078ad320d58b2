"""Overload on the real stack: a service capped at two calls, five callers. The
three past the cap hear the busy prompt and are hung up (their records say
overflow, the timeline that the prompt played to its end), the refusals are
counted in /metrics and the log has one line with the count, not one per call.
And Asterisk runs with the file-handle limit sized from the service's cap."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import aiohttp

from callcenter import asteriskconf
from callcenter.config import load_settings
from tests.integration.stack import (
    HTTP,
    LOGS,
    ROOT,
    CappedService,
    capped_fixture,
    closed_calls,
    sipp,
    timeline,
)

capped = capped_fixture(2)  # calls.max_calls = 2


async def gauge(series: str) -> float:
    """One series' value from /metrics (``name`` or ``name{labels}``)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{HTTP}/metrics") as resp:
            text = await resp.text()
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.M)
    assert match, text[:2000]
    return float(match.group(1))


async def refused_total(how: str) -> float:
    return await gauge(f'hotline_overload_refused_total{{how="{how}"}}')


async def test_callers_past_the_cap_hear_the_busy_prompt_counted_and_logged_once(
    capped: CappedService, db, caller_prefix: str
) -> None:
    log = LOGS / "test-callcenter.log"
    start = log.stat().st_size
    assert await refused_total("busy_prompt") == 0.0

    # Five callers within a tenth of a second; the first two are served (the
    # welcome prompt, 7 s), the three others arrive while both are.
    result = await sipp("caller_until_bye.xml", caller_prefix, calls=5, rate=50)
    assert result.returncode == 0, result.output  # every caller answered, and hung up on

    calls = await closed_calls(db, caller_prefix, 5)
    served = [c for c in calls if c["disposition"] == "completed"]
    refused = [c for c in calls if c["disposition"] == "overflow"]
    assert len(served) == 2 and len(refused) == 3, calls
    for call in refused:
        assert call["last_stage"] == "overload/busy_prompt"
        assert call["answered_at"] is not None
        kinds = await timeline(db, call["id"])
        assert ("overload_refused", {"how": "busy_prompt", "prompt": "overloaded"}) in kinds
        assert ("busy_prompt_played", {"prompt": "overloaded"}) in kinds
    assert await refused_total("busy_prompt") == 3.0
    assert await refused_total("rejected") == 0.0
    assert await gauge("hotline_ari_inboxes") == 0.0  # nothing of the calls kept
    assert await gauge('hotline_calls_by_stage{stage="overload"}') == 0.0

    lines = []
    with log.open("rb") as f:
        f.seek(start)
        for raw in f.read().decode(errors="replace").splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
    overload = [x for x in lines if x["logger"] == "callcenter.calls.overload"]
    warned = [x["message"].split(", event loop")[0] for x in overload if x["level"] == "WARNING"]
    assert warned == [
        "overload: 3 calls refused in the last 1 s (3 heard the busy prompt, "
        "0 refused unanswered); serving 2 of max_calls 2"
    ], overload


def test_asterisk_runs_with_the_file_handle_limit_sized_for_the_call_cap(
    asterisk_running: None,
) -> None:
    service_config = Path(os.environ.get("HOTLINE_CONFIG") or ROOT / "config" / "hotline.yaml")
    calls = load_settings(service_config).calls
    http = asteriskconf.load(ROOT / "config" / "asterisk.yaml").http
    expected = asteriskconf.allowed_files(asteriskconf.max_files(calls, http.session_limit))
    rendered = (ROOT / "run" / "asterisk" / "etc" / "asterisk.conf").read_text()
    assert f"\nmaxfiles = {expected}\n" in rendered
    pid = (ROOT / "run" / "asterisk" / "run" / "asterisk.pid").read_text().strip()
    limits = Path(f"/proc/{pid}/limits").read_text()
    [line] = [x for x in limits.splitlines() if x.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    assert (int(soft), int(hard)) == (expected, expected), line
    # Enough for every call the cap lets in: eight handles each at the very least.
    assert expected >= 8 * (calls.max_calls + calls.overload_prompt_slots)
