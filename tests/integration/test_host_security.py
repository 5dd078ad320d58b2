"""The stack as someone on this machine or on the network meets it: Asterisk
under an account of its own with no capability, files readable only by whom
they are meant for, and trunks that only their own addresses can speak for."""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import stat
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.stack import (
    ROOT,
    SIPP_DIR,
    caller_scenario,
    closed_calls,
    sipp,
    voicemail_ticket,
)

RUN = ROOT / "run"
ASTERISK_ROOT = Path(os.environ.get("ASTERISK_ROOT", "/var/cache/hotline12345/asterisk-root"))


def asterisk_status() -> dict[str, str]:
    pid = (RUN / "asterisk" / "run" / "asterisk.pid").read_text().strip()
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (line.partition(":") for line in lines)}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def owner(path: Path) -> tuple[str, str]:
    info = path.lstat()
    return pwd.getpwuid(info.st_uid).pw_name, grp.getgrgid(info.st_gid).gr_name


def as_asterisk(*command: str) -> int:
    """Run ``command`` in the root as Asterisk's account: what Asterisk could do."""
    return subprocess.run(
        [
            "chroot",
            str(ASTERISK_ROOT),
            "setpriv",
            "--reuid=asterisk",
            "--regid=asterisk",
            "--clear-groups",
            *command,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ).returncode


async def test_asterisk_runs_as_its_own_account_without_capabilities(asterisk_running):
    status = asterisk_status()
    uids, gids = set(status["Uid"].split()), set(status["Gid"].split())
    assert len(uids) == 1 and len(gids) == 1  # real, effective, saved, filesystem
    uid, gid = int(uids.pop()), int(gids.pop())
    assert uid != 0 and gid != 0
    # No other account of the host has these ids (uid 101 was the host's postgres).
    assert [u.pw_name for u in pwd.getpwall() if u.pw_uid == uid] == ["hotline-asterisk"]
    assert [g.gr_name for g in grp.getgrall() if g.gr_gid == gid] == ["hotline-asterisk"]
    assert [u.pw_name for u in pwd.getpwall() if u.pw_gid == gid] == ["hotline-asterisk"]
    assert status["Groups"] == ""  # not dialout, not audio
    for caps in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[caps], 16) == 0, f"{caps} {status[caps]}"
    assert status["NoNewPrivs"] == "1"
    assert status["Umask"] == "0027"
    # Inside the root, `asterisk` is the same account.
    root_passwd = (ASTERISK_ROOT / "etc" / "passwd").read_text().splitlines()
    [entry] = [line for line in root_passwd if line.startswith("asterisk:")]
    assert entry.split(":")[2:4] == [str(uid), str(gid)]


async def test_asterisk_cannot_write_where_root_writes(asterisk_running):
    """Root renders Asterisk's configuration: Asterisk reads it but can plant
    nothing there; the service's secrets, spool and logs are not even in its view."""
    etc = "/hotline/run/asterisk/etc"
    assert as_asterisk("test", "-r", f"{etc}/pjsip.conf") == 0  # it reads its config
    assert as_asterisk("test", "-w", etc) != 0
    assert as_asterisk("test", "-w", f"{etc}/pjsip_agents.conf") != 0
    assert as_asterisk("test", "-w", "/hotline/recordings") == 0  # and writes its recordings
    for hidden in ("secrets", "spool", "logs/callcenter.log"):
        assert as_asterisk("test", "-e", f"/hotline/run/{hidden}") != 0, hidden


async def test_files_are_only_for_whom_they_are_meant(service, db, caller_prefix, tmp_path):
    assert (mode(RUN), owner(RUN)) == (0o700, ("root", "root"))
    secrets = RUN / "secrets"
    assert mode(secrets) == 0o700
    for secret in secrets.iterdir():
        assert (mode(secret), owner(secret)) == (0o600, ("root", "root")), secret.name
    assert {"ari-password", "db-password", "seats.yaml"} <= {p.name for p in secrets.iterdir()}

    etc = RUN / "asterisk" / "etc"
    assert (mode(etc), owner(etc)) == (0o750, ("root", "hotline-asterisk"))
    for conf in ("ari.conf", "pjsip.conf", "pjsip_agents.conf", "http.conf"):
        assert (mode(etc / conf), owner(etc / conf)) == (0o640, ("root", "hotline-asterisk"))
    ari = (etc / "ari.conf").read_text()
    assert "password_format = crypt" in ari
    assert (secrets / "ari-password").read_text().strip() not in ari

    # A recording Asterisk writes during a call: 0640 in 0750 folders.
    await record_a_message(service, tmp_path, caller_prefix)
    call_id = await open_call_id_closed(db, caller_prefix)
    message = await voicemail_ticket(db, call_id)
    async with db.connect() as conn:
        name = await conn.scalar(
            text(
                "SELECT r.name FROM voicemails v JOIN recordings r ON r.id = v.recording_id "
                "WHERE v.call_id = :c"
            ),
            {"c": call_id},
        )
    assert message["size_bytes"] > 44
    wav = ROOT / "recordings" / f"{name}.wav"
    assert (mode(wav), owner(wav)) == (0o640, ("hotline-asterisk", "hotline-asterisk"))
    folder = wav.parent
    while folder != ROOT:
        assert mode(folder) == 0o750, folder
        folder = folder.parent


FLOW = """\
numbers: ["12345"]
languages: [zh]
start: record
nodes:
  record:
    type: voicemail
    prompts: [date_month]  # half a second
    max_seconds: 5
    beep: false
    thanks_prompts: []
    next: bye
  bye:
    type: hangup
"""


async def record_a_message(service, tmp_path: Path, caller_prefix: str) -> None:
    """A caller leaves a short voicemail (a flow of this test's own)."""
    service.copy_flows("simple")
    (service.flows_dir / "simple.yaml").write_text(FLOW)
    service.flow_set = "host-security"  # the next test's use_flows puts its own back
    status, body = await service.reload()
    assert status == 200, body
    scenario = caller_scenario(tmp_path, [("pause", 1500), ("talk", 2500)], hang_up=True)
    result = await sipp(scenario, caller_prefix)
    assert result.returncode == 0, result.output


async def open_call_id_closed(db, caller_prefix: str):
    [call] = await closed_calls(db, caller_prefix, 1)
    return call["id"]


# -- SIP: trunks speak only from their addresses ----------------------------------


async def calls_from(db, number: str, since: datetime) -> list[dict]:
    async with db.connect() as conn:
        rows = await conn.execute(
            text("SELECT * FROM calls WHERE caller_number = :n AND started_at >= :t"),
            {"n": number, "t": since},
        )
        return [dict(r._mapping) for r in rows]


@pytest.mark.parametrize("from_user", ["citizen-trunk", "dialout-trunk", "anonymous", "seat-1001"])
async def test_a_stranger_cannot_call_in_as_the_trunk(service, db, from_user):
    """127.0.0.2 is this machine but not on the citizen trunk's permit list: a call
    from there is refused whatever its From says, and never reaches the IVR."""
    since = datetime.now(UTC)
    result = await sipp(str(SIPP_DIR / "caller_refused.xml"), from_user, local_ip="127.0.0.2")
    assert result.returncode == 0, result.output  # a final 401/403/404, acknowledged
    assert await calls_from(db, from_user, since) == []


async def test_the_same_call_from_the_trunk_address_is_answered(service, db, tmp_path):
    since = datetime.now(UTC)
    scenario = tmp_path / "from-trunk.xml"
    scenario.write_text(
        (SIPP_DIR / "caller_until_bye.xml")
        .read_text()
        .replace("[caller_prefix][call_number]", "[caller_prefix]")
    )
    result = await sipp(str(scenario), "citizen-trunk", local_ip="127.0.0.1")
    assert result.returncode == 0, result.output
    for _ in range(100):
        rows = await calls_from(db, "citizen-trunk", since)
        if rows and rows[0]["ended_at"] is not None:
            break
        await asyncio.sleep(0.1)
    [call] = rows
    assert call["channel_name"].startswith("PJSIP/citizen-trunk-")
    assert call["disposition"] == "completed"
