"""The command line finds the project's configuration from any folder: --config, else
$HOTLINE_CONFIG, else the installed project's config/hotline.yaml; and when something
is missing it says which configuration file it read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from callcenter.acd.roster import load_roster
from callcenter.cli import main
from callcenter.config import PROJECT_CONFIG, find_config

ROOT = Path(__file__).resolve().parents[2]
# Variables that would point the command elsewhere than the case says.
CLEAN_ENV: dict[str, str | None] = {
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


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current folder with no config/ in it, outside the checkout."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def run(*args: str, **env: str) -> tuple[int, str, str]:
    result = CliRunner(env={**CLEAN_ENV, **env}).invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_installed_projects_roster_from_another_folder(elsewhere: Path):
    code, out, err = run("agents", "list", "--json")
    assert code == 0, err
    listed = [agent["id"] for agent in json.loads(out)]
    assert listed == sorted(load_roster(ROOT / "agents" / "roster.yaml").agents)
    assert "1001" in listed
    assert err == ""


def test_hotline_config_names_another_site(elsewhere: Path, tmp_path: Path):
    site = tmp_path / "site"
    (site / "agents").mkdir(parents=True)
    (site / "agents" / "roster.yaml").write_text(
        'agents:\n  "7001": {name: Zhao Lei, seat: seat-7001, skills: {general: 3}}\n',
        encoding="utf-8",
    )
    config = site / "hotline.yaml"
    config.write_text(yaml.safe_dump({"acd": {"roster": "agents/roster.yaml"}}), encoding="utf-8")
    code, out, err = run("agents", "list", "--json", HOTLINE_CONFIG=str(config))
    assert code == 0, err
    assert [agent["id"] for agent in json.loads(out)] == ["7001"]
    # --config wins over the variable.
    code, out, _ = run(
        "agents", "list", "--json", "-c", str(PROJECT_CONFIG), HOTLINE_CONFIG=str(config)
    )
    assert "1001" in [agent["id"] for agent in json.loads(out)]


def test_a_missing_configuration_is_named(elsewhere: Path, tmp_path: Path):
    absent = tmp_path / "nowhere" / "hotline.yaml"
    code, _, err = run("agents", "show", "1001", HOTLINE_CONFIG=str(absent))
    assert code == 1
    roster = absent.parent / "../agents/roster.yaml"
    assert f"no agent '1001' in {roster}, which does not exist" in err
    assert f"configuration {absent}, which does not exist, so the defaults" in err
    assert "give --config or set HOTLINE_CONFIG" in err
    code, out, err = run("agents", "list", HOTLINE_CONFIG=str(absent))
    assert code == 0 and out == ""
    assert f"no roster: {roster} does not exist (acd.roster of the configuration {absent}" in err


def test_find_config_order(tmp_path: Path):
    given, named = tmp_path / "given.yaml", tmp_path / "named.yaml"
    assert find_config(given, {"HOTLINE_CONFIG": str(named)}) == given
    assert find_config(None, {"HOTLINE_CONFIG": str(named)}) == named
    assert find_config(None, {"HOTLINE_CONFIG": ""}) == PROJECT_CONFIG
    assert find_config(None, {}) == PROJECT_CONFIG == ROOT / "config" / "hotline.yaml"
