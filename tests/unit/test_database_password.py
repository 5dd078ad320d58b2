"""The database role's password: generated at set-up into run/secrets/db-password,
never committed; DATABASE_URL keeps working, with its own password or without."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from callcenter.cli import main
from callcenter.config import load_settings

ROOT = Path(__file__).resolve().parents[2]


def config(
    tmp_path: Path, url: str = "postgresql+asyncpg://hotline@127.0.0.1:5432/hotline"
) -> Path:
    (tmp_path / "config").mkdir(exist_ok=True)
    path = tmp_path / "config" / "hotline.yaml"
    path.write_text(
        yaml.safe_dump({"database": {"url": url, "password_file": "../run/secrets/db-password"}})
    )
    return path


def secret(tmp_path: Path, password: str = "Gen3rated_pw-xyz") -> Path:
    path = tmp_path / "run" / "secrets" / "db-password"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(password + "\n")
    return path


def test_no_password_is_committed():
    shipped = yaml.safe_load((ROOT / "config" / "hotline.yaml").read_text())["database"]
    assert make_url(shipped["url"]).password is None
    assert shipped["password_file"] == "../run/secrets/db-password"


def test_the_password_comes_from_the_file_beside_the_config(tmp_path):
    secret(tmp_path)
    url = make_url(load_settings(config(tmp_path), environ={}).database.url)
    assert (url.username, url.password, url.database) == ("hotline", "Gen3rated_pw-xyz", "hotline")


def test_a_database_url_with_its_own_password_is_used_as_it_is(tmp_path):
    secret(tmp_path)
    given = "postgresql+asyncpg://app:their-own@db.example:5433/city"
    settings = load_settings(config(tmp_path), environ={"DATABASE_URL": given})
    assert settings.database.url == given


def test_a_database_url_without_password_gets_the_generated_one(tmp_path):
    secret(tmp_path)
    given = "postgresql+asyncpg://hotline@127.0.0.1:5432/hotline_test"
    settings = load_settings(config(tmp_path), environ={"DATABASE_URL": given})
    assert make_url(settings.database.url).password == "Gen3rated_pw-xyz"
    assert make_url(settings.database.url).database == "hotline_test"


def test_before_set_up_the_url_stays_and_db_url_says_what_is_missing(tmp_path):
    cfg = config(tmp_path)
    assert load_settings(cfg, environ={}).database.url.endswith("//hotline@127.0.0.1:5432/hotline")
    result = CliRunner().invoke(main, ["db", "url", "-c", str(cfg)], env={"DATABASE_URL": ""})
    assert result.exit_code != 0
    assert "db-password" in result.output and "init-password" in result.output


def test_init_password_generates_it_once_for_root_only(tmp_path):
    cfg = config(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "init-password", "-c", str(cfg)]).exit_code == 0
    path = tmp_path / "run" / "secrets" / "db-password"
    first = path.read_text()
    assert len(first.strip()) >= 24
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert runner.invoke(main, ["db", "init-password", "-c", str(cfg)]).exit_code == 0
    assert path.read_text() == first  # set-up runs it every time; the role keeps its password
    result = runner.invoke(main, ["db", "url", "-c", str(cfg)], env={"DATABASE_URL": ""})
    assert result.exit_code == 0
    assert make_url(result.output.strip()).password == first.strip()


def test_config_check_never_prints_the_password(tmp_path):
    secret(tmp_path)
    result = CliRunner().invoke(main, ["config", "check", "-c", str(config(tmp_path))], env={})
    assert "Gen3rated_pw-xyz" not in result.output
