"""agents/roster.yaml, the seats' SIP passwords and the pjsip sections rendered from them."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
import yaml

from callcenter.acd.roster import (
    AgentConfig,
    Roster,
    SeatSecrets,
    load_roster,
    render_seats,
    save_roster,
)
from callcenter.acd.seats import write_seats_conf
from callcenter.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

ROSTER = """\
# The agent roster.
# Seat passwords live in run/secrets/seats.yaml.
agents:
  "1001":
    name: 张敏
    seat: seat-1001
    skills: {general: 8, enterprise: 5}
    languages: [zh]
  "1002":
    name: Li Qiang
    seat: seat-1002
    skills: {general: 6}
    languages: [zh, yue]
"""


def write(tmp_path: Path, text: str, name: str = "roster.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_roster(write(tmp_path, text))
    return str(info.value)


# --- load_roster --------------------------------------------------------------------------
def test_load_roster(tmp_path: Path):
    roster = load_roster(write(tmp_path, ROSTER))
    assert list(roster.agents) == ["1001", "1002"]
    a = roster.agents["1001"]
    assert a == AgentConfig(
        name="张敏", seat="seat-1001", skills={"general": 8, "enterprise": 5}, languages=["zh"]
    )
    assert roster.by_seat("seat-1002") == "1002"
    assert roster.by_seat("seat-9999") is None


def test_missing_or_empty_roster_has_no_agents(tmp_path: Path):
    assert load_roster(tmp_path / "absent.yaml") == Roster()
    assert load_roster(write(tmp_path, "# nobody yet\n")) == Roster()
    assert load_roster(write(tmp_path, "agents: {}\n")) == Roster()


def test_agent_defaults(tmp_path: Path):
    roster = load_roster(write(tmp_path, 'agents:\n  "7":\n    name: A\n    seat: seat-7\n'))
    assert roster.agents["7"].skills == {}
    assert roster.agents["7"].languages == ["zh"]


def test_the_shipped_roster_loads():
    roster = load_roster(ROOT / "agents" / "roster.yaml")
    assert roster.agents
    seats = [a.seat for a in roster.agents.values()]
    assert len(seats) == len(set(seats))


def test_duplicate_seats_are_refused(tmp_path: Path):
    text = ROSTER + '  "1003":\n    name: C\n    seat: seat-1001\n'
    msg = error(tmp_path, text)
    assert str(tmp_path / "roster.yaml") in msg
    assert "seat-1001 given to more than one agent" in msg


def test_duplicate_agent_ids_are_refused_with_the_line(tmp_path: Path):
    text = ROSTER + '  "1001":\n    name: C\n    seat: seat-1003\n'
    msg = error(tmp_path, text)
    assert msg.startswith(f"{tmp_path / 'roster.yaml'}:14:3: duplicate key '1001'")


@pytest.mark.parametrize("bad_id", ["bad id", "a/b", "x" * 33, "工号1"])
def test_bad_agent_ids_are_refused_with_file_line(tmp_path: Path, bad_id: str):
    msg = error(tmp_path, f'agents:\n  "{bad_id}":\n    name: A\n    seat: seat-a\n')
    # The line is the agent's body (pydantic reports a bad key at the key's value).
    assert re.match(rf"{re.escape(str(tmp_path / 'roster.yaml'))}:[23]:\d+: ", msg), msg
    assert f"agents.{bad_id}.[key]: String should match pattern" in msg


def test_unquoted_numeric_ids_are_refused(tmp_path: Path):
    msg = error(tmp_path, "agents:\n  1001:\n    name: A\n    seat: seat-a\n")
    assert msg.startswith(f"{tmp_path / 'roster.yaml'}:2:3: ")  # the key's own line
    assert "agents.1001.[key]: Input should be a valid string" in msg


@pytest.mark.parametrize("seat", ["Seat-1", "seat_1", "1seat", "seat 1", "", "s" * 41])
def test_bad_seats_are_refused_with_file_line(tmp_path: Path, seat: str):
    msg = error(tmp_path, f'agents:\n  "1":\n    name: A\n    seat: "{seat}"\n')
    assert msg.startswith(f"{tmp_path / 'roster.yaml'}:4:11: agents.1.seat: "), msg


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("    skills: {general: 11}\n", "agents.1.skills.general"),
        ("    skills: {general: 0}\n", "agents.1.skills.general"),
        ("    skills: {general: high}\n", "agents.1.skills.general"),
        ("    skills: [general]\n", "agents.1.skills"),
        ("    languages: zh\n", "agents.1.languages"),
        ("    desk: 3\n", "agents.1.desk"),
    ],
)
def test_bad_agent_fields_name_file_line_and_field(tmp_path: Path, text: str, field: str):
    msg = error(tmp_path, 'agents:\n  "1":\n    name: A\n    seat: seat-a\n' + text)
    assert msg.startswith(f"{tmp_path / 'roster.yaml'}:5:"), msg
    assert f": {field}: " in msg


def test_a_missing_name_or_seat_is_refused(tmp_path: Path):
    msg = error(tmp_path, 'agents:\n  "1":\n    seat: seat-a\n')
    assert "agents.1.name: Field required" in msg
    msg = error(tmp_path, 'agents:\n  "1":\n    name: ""\n    seat: seat-a\n')
    assert msg.startswith(f"{tmp_path / 'roster.yaml'}:3:")
    assert "agents.1.name" in msg


# --- save_roster --------------------------------------------------------------------------
def test_save_roster_round_trip_keeps_the_header(tmp_path: Path):
    path = write(tmp_path, ROSTER)
    roster = load_roster(path)
    new = Roster(
        agents={
            **roster.agents,
            "1003": AgentConfig(name="王芳", seat="seat-1003", skills={"english": 9}),
        }
    )
    save_roster(path, new)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(
        "# The agent roster.\n# Seat passwords live in run/secrets/seats.yaml.\n"
    )
    assert "王芳" in text  # written as text, not escaped
    assert '"1001":' in text and '"1003":' in text  # ids stay strings, quoted as written
    assert load_roster(path) == new
    assert list(load_roster(path).agents) == ["1001", "1002", "1003"]
    assert not (tmp_path / "roster.tmp").exists()


def test_save_roster_twice_does_not_duplicate_the_header(tmp_path: Path):
    path = write(tmp_path, ROSTER)
    roster = load_roster(path)
    save_roster(path, roster)
    save_roster(path, roster)
    assert path.read_text(encoding="utf-8").count("# The agent roster.") == 1
    assert load_roster(path) == roster


def test_save_roster_creates_a_new_file(tmp_path: Path):
    path = tmp_path / "roster.yaml"
    roster = Roster(agents={"1": AgentConfig(name="A", seat="seat-1")})
    save_roster(path, roster)
    assert load_roster(path) == roster


def test_save_roster_of_nobody(tmp_path: Path):
    path = write(tmp_path, ROSTER)
    save_roster(path, Roster())
    assert load_roster(path) == Roster()
    assert path.read_text(encoding="utf-8").startswith("# The agent roster.")


# --- seat secrets -------------------------------------------------------------------------
def test_passwords_are_generated_once_and_kept(tmp_path: Path):
    path = tmp_path / "secrets" / "seats.yaml"
    secrets = SeatSecrets(path)
    first = secrets.passwords(["seat-1001", "seat-1002"])
    assert set(first) == {"seat-1001", "seat-1002"}
    assert first["seat-1001"] != first["seat-1002"]
    assert all(len(p) >= 16 and re.fullmatch(r"[A-Za-z0-9_-]+", p) for p in first.values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # Asked again (another object, same file): the same passwords; new seats get theirs.
    again = SeatSecrets(path).passwords(["seat-1002", "seat-1003", "seat-1001"])
    assert list(again) == ["seat-1002", "seat-1003", "seat-1001"]
    assert again["seat-1001"] == first["seat-1001"]
    assert again["seat-1002"] == first["seat-1002"]
    assert again["seat-1003"] not in first.values()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text()) == {
        "seat-1001": first["seat-1001"],
        "seat-1002": first["seat-1002"],
        "seat-1003": again["seat-1003"],
    }
    assert not path.with_suffix(".tmp").exists()


def test_known_passwords_do_not_rewrite_the_file(tmp_path: Path):
    path = tmp_path / "seats.yaml"
    path.write_text("seat-1: 'old-secret'\n")
    path.chmod(0o600)
    before = path.stat().st_mtime_ns
    assert SeatSecrets(path).passwords(["seat-1"]) == {"seat-1": "old-secret"}
    assert path.stat().st_mtime_ns == before
    assert SeatSecrets(path).passwords([]) == {}


def test_passwords_of_a_missing_or_empty_file(tmp_path: Path):
    path = tmp_path / "seats.yaml"
    assert SeatSecrets(path).passwords([]) == {}
    assert not path.exists()
    path.write_text("")
    assert set(SeatSecrets(path).passwords(["seat-1"])) == {"seat-1"}


# --- render_seats -------------------------------------------------------------------------
def sections(text: str) -> list[tuple[str, dict[str, list[str]]]]:
    """[(header, {key: [values]})] of a pjsip.conf text, comments dropped."""
    out: list[tuple[str, dict[str, list[str]]]] = []
    for raw in text.splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            out.append((line, {}))
        else:
            key, value = (p.strip() for p in line.split("=", 1))
            out[-1][1].setdefault(key, []).append(value)
    return out


def test_render_seats_writes_endpoint_auth_and_aor_per_seat(tmp_path: Path):
    roster = load_roster(write(tmp_path, ROSTER))
    text = render_seats(roster, {"seat-1001": "pw-one", "seat-1002": "pw-two"})
    assert text.startswith("; Rendered from agents/roster.yaml by callcenter; do not edit.\n")
    got = sections(text)
    assert [h for h, _ in got] == [
        "[seat-1001](endpoint-defaults)",
        "[seat-1001]",
        "[seat-1001]",
        "[seat-1002](endpoint-defaults)",
        "[seat-1002]",
        "[seat-1002]",
    ]
    endpoint, auth, aor = (body for _, body in got[:3])
    assert endpoint == {
        "context": ["from-agents"],
        "identify_by": ["username"],  # seats are known by name (and digest auth) only
        "auth": ["seat-1001"],
        "aors": ["seat-1001"],
        "callerid": ['"张敏" <1001>'],
        "set_var": ["PJSIP_TRANSFER_HANDLING()=ari-only", "HOTLINE_AGENT=1001"],
    }
    assert auth == {
        "type": ["auth"],
        "auth_type": ["digest"],
        "username": ["seat-1001"],
        "password": ["pw-one"],
    }
    assert aor == {
        "type": ["aor"],
        "max_contacts": ["1"],
        "remove_existing": ["yes"],
        "qualify_frequency": ["0"],
    }
    assert sections(text)[4][1]["password"] == ["pw-two"]


def test_render_seats_is_sorted_by_agent_id_and_deterministic():
    roster = Roster(
        agents={
            "b": AgentConfig(name="B", seat="seat-b"),
            "a": AgentConfig(name="A", seat="seat-z"),
        }
    )
    pw = {"seat-b": "1", "seat-z": "2"}
    text = render_seats(roster, pw)
    assert text.index("; agent a") < text.index("; agent b")
    assert render_seats(roster, pw) == text


def test_render_seats_of_an_empty_roster_is_just_the_banner():
    assert sections(render_seats(Roster(), {})) == []


def test_render_seats_needs_every_password():
    roster = Roster(agents={"1": AgentConfig(name="A", seat="seat-1")})
    with pytest.raises(KeyError):
        render_seats(roster, {})


def test_write_seats_conf_writes_once_and_reports_changes(tmp_path: Path):
    roster = load_roster(write(tmp_path, ROSTER))
    secrets = SeatSecrets(tmp_path / "secrets" / "seats.yaml")
    conf = tmp_path / "etc" / "pjsip_agents.conf"
    assert write_seats_conf(roster, secrets, conf) is True
    text = conf.read_text()
    passwords = secrets.passwords(["seat-1001", "seat-1002"])
    assert text == render_seats(roster, passwords)
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert write_seats_conf(roster, secrets, conf) is False  # unchanged
    fewer = Roster(agents={"1002": roster.agents["1002"]})
    assert write_seats_conf(fewer, secrets, conf) is True
    assert "seat-1001" not in conf.read_text()


def test_an_agent_name_cannot_add_lines_to_the_endpoint():
    from pydantic import ValidationError

    name = 'Zhang"\ncontext = default\n;'
    try:
        roster = Roster(agents={"1": AgentConfig(name=name, seat="seat-1")})
    except ValidationError:
        return  # refused: fine
    endpoint = sections(render_seats(roster, {"seat-1": "pw"}))[0][1]
    assert endpoint["context"] == ["from-agents"]
    assert set(endpoint) == {"context", "auth", "aors", "callerid", "set_var"}


@pytest.mark.parametrize("seat", ["citizen-trunk", "dialout-trunk", "anonymous", "global"])
def test_a_seat_cannot_take_the_name_of_a_trunk_or_asterisk_section(tmp_path: Path, seat: str):
    path = tmp_path / "roster.yaml"
    path.write_text(f'agents:\n  "1001": {{name: Li, seat: {seat}}}\n')
    with pytest.raises(ConfigError, match=f"{path}:2:.*reserved for Asterisk"):
        load_roster(path)
