"""Files root writes where Asterisk can write: a link planted at the temporary
name or at the target never hands another file over (the reproduced attack:
``pjsip_agents.tmp`` → ``/etc/passwd``, chmod'ed and chown'ed by the next render)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from callcenter import safefiles
from callcenter.acd.roster import Roster, SeatSecrets
from callcenter.acd.seats import write_seats_conf
from callcenter.calls.spool import SpoolFile
from callcenter.users import service_token

ROSTER = Roster.model_validate(
    {"agents": {"1001": {"name": "Li", "seat": "seat-1001", "skills": {"general": 5}}}}
)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file that stands for /etc/passwd: nothing may change it, or its mode or owner."""
    path = tmp_path / "victim"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    path.chmod(0o644)
    return path


def unchanged(victim: Path) -> bool:
    info = victim.stat()
    return (
        victim.read_text() == "root:x:0:0:root:/root:/bin/bash\n"
        and stat.S_IMODE(info.st_mode) == 0o644
        and (info.st_uid, info.st_gid) == (os.getuid(), os.getgid())
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_seats_conf_ignores_a_link_planted_at_the_old_temporary_name(tmp_path, victim):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "pjsip_agents.tmp").symlink_to(victim)
    conf = etc / "pjsip_agents.conf"
    assert write_seats_conf(ROSTER, SeatSecrets(tmp_path / "seats.yaml"), conf)
    assert unchanged(victim)
    assert not conf.is_symlink() and "[seat-1001]" in conf.read_text()
    assert mode(conf) == 0o640
    assert conf.stat().st_gid == etc.stat().st_gid  # Asterisk's group, the folder's
    assert [p.name for p in etc.iterdir() if p.name.startswith(".")] == []  # no temp left


def test_seats_conf_replaces_a_link_planted_at_its_own_name(tmp_path, victim):
    etc = tmp_path / "etc"
    etc.mkdir()
    conf = etc / "pjsip_agents.conf"
    conf.symlink_to(victim)
    assert write_seats_conf(ROSTER, SeatSecrets(tmp_path / "seats.yaml"), conf)
    assert unchanged(victim)
    assert not conf.is_symlink() and mode(conf) == 0o640


def test_every_temporary_name_is_new_so_a_planted_one_is_never_opened(
    tmp_path, victim, monkeypatch
):
    # Plant links at every name the writer could pick: it must fail rather than follow.
    monkeypatch.setattr(safefiles.secrets, "token_hex", lambda n: "planted")
    (tmp_path / ".secret.planted.tmp").symlink_to(victim)
    with pytest.raises(FileExistsError):
        safefiles.write_file(tmp_path / "secret", "x")
    assert unchanged(victim)
    assert not (tmp_path / "secret").exists()


def test_the_file_has_its_mode_and_group_from_the_start(tmp_path):
    target = tmp_path / "ari.conf"
    seen: list[int] = []
    real_replace = os.replace

    def replace(src, dst, **kw):  # what the file is before it gets its name
        seen.append(stat.S_IMODE(os.stat(src, dir_fd=kw.get("src_dir_fd")).st_mode))
        real_replace(src, dst, **kw)

    os.replace = replace  # type: ignore[assignment]
    try:
        safefiles.write_file(target, "[general]\n", mode=0o640, group=os.getgid())
    finally:
        os.replace = real_replace  # type: ignore[assignment]
    assert seen == [0o640]
    assert mode(target) == 0o640 and target.read_text() == "[general]\n"


def test_a_link_in_place_of_the_folder_is_refused(tmp_path, victim):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "etc").symlink_to(real)
    with pytest.raises(OSError):
        safefiles.write_file(tmp_path / "etc" / "ari.conf", "x")
    with pytest.raises(safefiles.UnsafeFile):
        safefiles.ensure_dir(tmp_path / "etc", mode=0o750)
    assert list(real.iterdir()) == []


def test_reading_refuses_links_and_pipes(tmp_path, victim):
    link = tmp_path / "link"
    link.symlink_to(victim)
    with pytest.raises(safefiles.UnsafeFile):
        safefiles.read_text(link)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(safefiles.UnsafeFile):  # never blocks waiting for a writer
        safefiles.read_text(fifo)


def test_record_spool_is_created_owner_only_and_never_through_a_link(tmp_path, victim):
    spool = tmp_path / "spool" / "call-records.jsonl"
    file = SpoolFile(spool)
    file.append('{"seq": 1}')
    file.close()
    assert mode(spool) == 0o600 and mode(spool.parent) == 0o700
    spool.unlink()
    spool.symlink_to(victim)
    with pytest.raises(OSError):
        SpoolFile(spool).append('{"seq": 2}')
    assert unchanged(victim)


def test_a_spool_left_world_readable_is_tightened(tmp_path):
    spool = tmp_path / "call-records.jsonl"
    spool.write_text('{"seq": 1}\n')
    spool.chmod(0o644)
    file = SpoolFile(spool)
    file.append('{"seq": 2}')
    file.close()
    assert mode(spool) == 0o600
    assert spool.read_text() == '{"seq": 1}\n{"seq": 2}\n'


def test_secrets_are_owner_only_and_replace_a_planted_link(tmp_path, victim):
    token = tmp_path / "secrets" / "service-token"
    token.parent.mkdir()
    token.symlink_to(victim)
    with pytest.raises(Exception, match="service token"):
        service_token.ensure(token)  # reading through a link is refused, loudly
    token.unlink()
    service_token.ensure(token)
    assert mode(token) == 0o600 and unchanged(victim)

    seats = tmp_path / "secrets" / "seats.yaml"
    (tmp_path / "secrets" / "seats.tmp").symlink_to(victim)  # the old fixed temp name
    SeatSecrets(seats).passwords(["seat-1001"])
    assert mode(seats) == 0o600 and unchanged(victim)


def test_ensure_dir_sets_mode_on_an_existing_folder(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir(mode=0o755)
    safefiles.ensure_dir(folder, mode=0o700)
    assert mode(folder) == 0o700
