"""`callcenter agents ...` against a config in tmp_path; Asterisk is not reachable."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from callcenter.acd.roster import SeatSecrets, load_roster, render_seats
from callcenter.cli import main

ROSTER = """\
# The agent roster (test copy).
# Seat passwords are generated into secrets/seats.yaml.
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
# Variables that would override the tmp config (and point at someone's real services).
CLEAN_ENV = {
    v: None
    for v in (
        "HOTLINE_CONFIG",
        "ARI_URL",
        "ARI_USERNAME",
        "ARI_PASSWORD",
        "HOTLINE_HTTP_PORT",
        "DATABASE_URL",
    )
}
NOT_REACHABLE = "Asterisk not reachable: the seats apply when it starts"


def closed_port() -> int:
    """A local port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Site:
    """A tmp folder with hotline.yaml, the roster, and where secrets and seats go."""

    def __init__(self, root: Path, *, password: str | None = "test-ari", seats_conf: bool = True):
        self.root = root
        self.roster = root / "agents" / "roster.yaml"
        self.secrets = root / "run" / "secrets" / "seats.yaml"
        self.seats_conf = root / "run" / "etc" / "pjsip_agents.conf"
        self.roster.parent.mkdir(parents=True)
        self.roster.write_text(ROSTER, encoding="utf-8")
        config = {
            "ari": {"url": f"http://127.0.0.1:{closed_port()}", "request_timeout": 3},
            "http": {"host": "127.0.0.1", "port": closed_port()},
            "acd": {
                "roster": "agents/roster.yaml",
                "seat_secrets": "run/secrets/seats.yaml",
                "seats_conf": "run/etc/pjsip_agents.conf" if seats_conf else None,
                "sip_server": "hotline.example:5060",
            },
        }
        if password is not None:
            config["ari"]["password"] = password
        self.config = root / "hotline.yaml"
        self.config.write_text(yaml.safe_dump(config), encoding="utf-8")

    def run(self, *args: str) -> Result:
        return CliRunner(env=CLEAN_ENV).invoke(main, [*args[:2], "-c", str(self.config), *args[2:]])

    def json(self, *args: str):
        result = self.run(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


# --- help ---------------------------------------------------------------------------------
def test_top_level_help_lists_the_command_groups():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    commands = {
        line.split()[0] for line in result.stdout.split("Commands:")[1].splitlines() if line.strip()
    }
    assert {"agents", "ivr", "db", "serve", "config"} <= commands


def test_agents_help_lists_its_commands():
    result = CliRunner().invoke(main, ["agents", "--help"])
    assert result.exit_code == 0
    for command in ("list", "show", "add", "remove", "render"):
        assert f"  {command} " in result.stdout


# --- list and show ------------------------------------------------------------------------
def test_list_json(site: Site):
    views = site.json("agents", "list")
    assert views == [
        {
            "id": "1001",
            "name": "张敏",
            "skills": {"general": 8, "enterprise": 5},
            "languages": ["zh"],
            "seat": "seat-1001",
            "endpoint": "PJSIP/seat-1001",
        },
        {
            "id": "1002",
            "name": "Li Qiang",
            "skills": {"general": 6},
            "languages": ["zh", "yue"],
            "seat": "seat-1002",
            "endpoint": "PJSIP/seat-1002",
        },
    ]
    assert not site.secrets.exists()  # listing never creates passwords


def test_list_text(site: Site):
    result = site.run("agents", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split() == ["1001", "张敏", "seat-1001", "general:8,enterprise:5", "zh"]
    assert lines[1].split() == ["1002", "Li", "Qiang", "seat-1002", "general:6", "zh,yue"]


def test_list_of_an_empty_roster(tmp_path: Path):
    site = Site(tmp_path)
    site.roster.unlink()
    assert site.json("agents", "list") == []


def test_show_json_prints_the_softphone_account(site: Site):
    view = site.json("agents", "show", "1001")
    assert view["id"] == "1001"
    assert view["seat"] == "seat-1001"
    assert view["endpoint"] == "PJSIP/seat-1001"
    sip = view["sip"]
    assert sip["server"] == "hotline.example:5060"
    assert sip["username"] == "seat-1001"
    assert sip["transport"] == "udp"
    assert len(sip["password"]) >= 16
    # The password is the one kept in the secrets file, which only its owner reads.
    assert yaml.safe_load(site.secrets.read_text()) == {"seat-1001": sip["password"]}
    assert stat.S_IMODE(site.secrets.stat().st_mode) == 0o600
    # And it stays the same.
    assert site.json("agents", "show", "1001")["sip"]["password"] == sip["password"]


def test_show_text(site: Site):
    result = site.run("agents", "show", "1002")
    assert result.exit_code == 0, result.output
    assert "seat-1002" in result.stdout
    assert "'username': 'seat-1002'" in result.stdout


def test_show_an_unknown_agent(site: Site):
    result = site.run("agents", "show", "9999")
    assert result.exit_code == 1
    assert f"no agent '9999' in {site.roster}" in result.stderr


def test_a_broken_roster_is_reported_with_file_and_line(site: Site):
    site.roster.write_text('agents:\n  "1":\n    name: A\n    seat: Bad_Seat\n')
    result = site.run("agents", "list")
    assert result.exit_code == 1
    assert f"{site.roster}:4:11: agents.1.seat: " in result.stderr


# --- add ----------------------------------------------------------------------------------
def test_add_writes_the_roster_and_the_seats_even_without_asterisk(site: Site):
    result = site.run(
        "agents",
        "add",
        "1003",
        "--name",
        "王芳",
        "--skill",
        "general=5",
        "--skill",
        "english=9",
        "--language",
        "zh",
        "--language",
        "en",
    )
    assert result.exit_code == 0, result.output
    assert "agent 1003 (王芳) at seat seat-1003" in result.stdout
    assert NOT_REACHABLE in result.stdout
    roster = load_roster(site.roster)
    assert list(roster.agents) == ["1001", "1002", "1003"]
    new = roster.agents["1003"]
    assert (new.name, new.seat) == ("王芳", "seat-1003")
    assert new.skills == {"general": 5, "english": 9}
    assert new.languages == ["zh", "en"]
    assert site.roster.read_text(encoding="utf-8").startswith("# The agent roster (test copy).\n")
    # The seats file for Asterisk: every seat, with the generated passwords.
    text = site.seats_conf.read_text()
    passwords = SeatSecrets(site.secrets).passwords(["seat-1001", "seat-1002", "seat-1003"])
    assert text == render_seats(roster, passwords)
    assert "[seat-1003](endpoint-defaults)" in text
    assert stat.S_IMODE(site.secrets.stat().st_mode) == 0o600
    assert site.json("agents", "show", "1003")["sip"]["password"] == passwords["seat-1003"]


def test_add_defaults_seat_and_language(site: Site):
    result = site.run("agents", "add", "A7", "--name", "Ann")
    assert result.exit_code == 0, result.output
    agent = load_roster(site.roster).agents["A7"]
    assert agent.seat == "seat-a7"
    assert agent.languages == ["zh"]
    assert agent.skills == {}


def test_add_with_an_explicit_seat(site: Site):
    result = site.run("agents", "add", "1003", "--name", "C", "--seat", "desk-3")
    assert result.exit_code == 0, result.output
    assert load_roster(site.roster).agents["1003"].seat == "desk-3"
    assert "[desk-3](endpoint-defaults)" in site.seats_conf.read_text()


def test_add_an_existing_id_replaces_the_agent(site: Site):
    password = site.json("agents", "show", "1002")["sip"]["password"]
    result = site.run("agents", "add", "1002", "--name", "Li Q.", "--seat", "seat-1002")
    assert result.exit_code == 0, result.output
    roster = load_roster(site.roster)
    assert list(roster.agents) == ["1001", "1002"]
    assert roster.agents["1002"].name == "Li Q."
    assert site.json("agents", "show", "1002")["sip"]["password"] == password


def test_add_refuses_a_seat_that_belongs_to_someone_else(site: Site):
    before = site.roster.read_text(encoding="utf-8")
    result = site.run("agents", "add", "1003", "--name", "C", "--seat", "seat-1001")
    assert result.exit_code == 1
    assert "seat seat-1001 already belongs to agent 1001" in result.stderr
    assert site.roster.read_text(encoding="utf-8") == before
    assert not site.seats_conf.exists()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--skill", "general"], 2, "QUEUE=LEVEL"),
        (["--skill", "general=high"], 2, "QUEUE=LEVEL"),
        (["--skill", "general=11"], 1, "less than or equal to 10"),
        (["--seat", "Seat_3"], 1, "String should match pattern"),
    ],
)
def test_add_refuses_bad_options_and_changes_nothing(site: Site, args, code, message):
    before = site.roster.read_text(encoding="utf-8")
    result = site.run("agents", "add", "1003", "--name", "C", *args)
    assert result.exit_code == code, result.output
    assert message in result.output
    assert site.roster.read_text(encoding="utf-8") == before
    assert not site.seats_conf.exists()


def test_add_refuses_a_bad_agent_id(site: Site):
    result = site.run("agents", "add", "bad/id", "--name", "C", "--seat", "seat-x")
    assert result.exit_code == 1
    assert "String should match pattern" in result.stderr


def test_add_needs_a_name(site: Site):
    result = site.run("agents", "add", "1003")
    assert result.exit_code == 2
    assert "--name" in result.stderr


def test_add_without_an_ari_password_still_writes_the_seats(tmp_path: Path):
    site = Site(tmp_path, password=None)
    result = site.run("agents", "add", "1003", "--name", "C")
    assert result.exit_code == 0, result.output
    assert NOT_REACHABLE in result.stdout
    assert "[seat-1003]" in site.seats_conf.read_text()


def test_add_when_seats_are_managed_elsewhere(tmp_path: Path):
    site = Site(tmp_path, seats_conf=False)
    result = site.run("agents", "add", "1003", "--name", "C")
    assert result.exit_code == 0, result.output
    assert "Asterisk" not in result.stdout
    assert "1003" in load_roster(site.roster).agents
    assert not site.seats_conf.exists()


# --- remove -------------------------------------------------------------------------------
def test_remove(site: Site):
    assert site.run("agents", "add", "1003", "--name", "C").exit_code == 0
    result = site.run("agents", "remove", "1002")
    assert result.exit_code == 0, result.output
    assert "agent 1002 removed" in result.stdout
    assert NOT_REACHABLE in result.stdout
    assert list(load_roster(site.roster).agents) == ["1001", "1003"]
    text = site.seats_conf.read_text()
    assert "seat-1002" not in text
    assert "[seat-1001](endpoint-defaults)" in text
    assert site.roster.read_text(encoding="utf-8").startswith("# The agent roster (test copy).\n")


def test_remove_an_unknown_agent(site: Site):
    before = site.roster.read_text(encoding="utf-8")
    result = site.run("agents", "remove", "9999")
    assert result.exit_code == 1
    assert f"no agent '9999' in {site.roster}" in result.stderr
    assert site.roster.read_text(encoding="utf-8") == before


# --- render -------------------------------------------------------------------------------
def test_render(site: Site):
    result = site.run("agents", "render")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"2 seat(s) in {site.seats_conf}"
    assert site.seats_conf.read_text().count("(endpoint-defaults)") == 2


def test_render_without_a_seats_file(tmp_path: Path):
    site = Site(tmp_path, seats_conf=False)
    result = site.run("agents", "render")
    assert result.exit_code == 1
    assert "acd.seats_conf is not set" in result.stderr


def test_add_and_remove_leave_the_rest_of_the_roster_as_ops_wrote_it(site: Site):
    written = ROSTER.replace(
        '  "1002":\n', '  # 夜班 (night shift) from here on\n  "1002":  # team lead\n'
    )
    site.roster.write_text(written, encoding="utf-8")
    added = site.run("agents", "add", "1003", "--name", "王芳", "--skill", "general=5")
    assert added.exit_code == 0, added.output
    after_add = site.roster.read_text(encoding="utf-8")
    assert after_add.startswith(written)  # untouched, comments and one-line skills included
    assert after_add[len(written) :] == (
        '  "1003":\n    name: 王芳\n    seat: seat-1003\n    skills: {general: 5}\n'
        "    languages: [zh]\n"
    )
    assert site.run("agents", "remove", "1003").exit_code == 0
    assert site.roster.read_text(encoding="utf-8") == written
