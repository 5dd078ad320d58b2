from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.acd.queues import load_queues
from callcenter.config import (
    AcdConfig,
    CallsConfig,
    HttpConfig,
    IvrConfig,
    Settings,
    TicketsConfig,
    load_settings,
)
from callcenter.errors import ConfigError
from callcenter.ivr.registry import IvrPaths

ROOT = Path(__file__).resolve().parents[2]

ASYNCPG_URL = "postgresql+asyncpg://hotline:s3cret@db.example:5432/hotline"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


IVR_PATHS = ("flows_dir", "prompts_dir", "calendar", "queues", "lookup_fixture", "directory")


def defaults_beside(folder: Path) -> Settings:
    """Settings() with its relative paths resolved against ``folder``, as load_settings does."""
    return Settings(
        ivr=IvrConfig(
            flows_dir=folder / "../ivr_flows",
            prompts_dir=folder / "../ivr_flows/prompts",
            calendar=folder / "calendar.yaml",
            queues=folder / "queues.yaml",
            lookup_fixture=folder / "lookup_fixture.yaml",
            directory=folder / "directory.yaml",
        ),
        tickets=TicketsConfig(
            deadlines=folder / "deadlines.yaml", catalogue=folder / "catalogue.yaml"
        ),
        acd=AcdConfig(
            roster=folder / "../agents/roster.yaml",
            seat_secrets=folder / "../run/secrets/seats.yaml",
            seats_conf=folder / "../run/asterisk/etc/pjsip_agents.conf",
        ),
        calls=CallsConfig(record_spool=folder / "../run/spool/call-records.jsonl"),
        http=HttpConfig(service_token_file=folder / "../run/secrets/service-token"),
    )


def test_missing_file_gives_defaults(tmp_path: Path):
    settings = load_settings(tmp_path / "absent.yaml", environ={})
    assert settings == defaults_beside(tmp_path)
    # Everything but the paths is Settings() as it stands.
    defaults = Settings()
    for section in ("ari", "database"):
        assert getattr(settings, section) == getattr(defaults, section)
    assert settings.calls.shutdown_grace_seconds == defaults.calls.shutdown_grace_seconds
    assert settings.log_level == defaults.log_level
    assert settings.ari.url == "http://127.0.0.1:8088"
    assert settings.ari.app == "hotline"
    assert settings.ari.password_file is None  # None is not a path to resolve
    assert settings.http.port == 8080
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.calls.dialout_endpoint == "PJSIP/{number}@dialout-trunk"
    assert settings.ivr.prompts_media_root == "/hotline/prompts"  # Asterisk's view: kept
    assert not hasattr(settings.calls, "welcome_media")  # the IVR flows play the welcome


def test_missing_file_resolves_the_ivr_paths_against_its_folder(tmp_path: Path):
    ivr = load_settings(tmp_path / "config" / "absent.yaml", environ={}).ivr
    folder = tmp_path / "config"
    assert ivr.flows_dir == folder / "../ivr_flows"
    assert ivr.prompts_dir == folder / "../ivr_flows/prompts"
    assert ivr.calendar == folder / "calendar.yaml"
    assert ivr.queues == folder / "queues.yaml"
    assert ivr.lookup_fixture == folder / "lookup_fixture.yaml"
    assert ivr.directory == folder / "directory.yaml"
    assert ivr.paths() == IvrPaths(*(getattr(ivr, name) for name in IVR_PATHS))


def test_empty_file_gives_defaults(tmp_path: Path):
    settings = load_settings(write(tmp_path / "hotline.yaml", ""), environ={})
    assert settings == defaults_beside(tmp_path)
    assert settings == load_settings(tmp_path / "absent.yaml", environ={})


@pytest.mark.parametrize(
    "text", ["# nothing\n", "ivr:\ncalls:\n"], ids=["comment", "empty-sections"]
)
def test_comments_and_empty_sections_give_defaults(tmp_path: Path, text: str):
    settings = load_settings(write(tmp_path / "hotline.yaml", text), environ={})
    assert settings == defaults_beside(tmp_path)


def test_file_values_override_defaults_and_keep_other_defaults(tmp_path: Path):
    cfg = write(
        tmp_path / "hotline.yaml",
        (
            "ari:\n"
            "  url: http://pbx.example:8088/\n"
            "  username: callcenter\n"
            "http:\n"
            "  port: 9000\n"
            "calls:\n"
            "  dialout_endpoint: PJSIP/9{number}@city-trunk\n"
            "  shutdown_grace_seconds: 5\n"
            "ivr:\n"
            "  prompts_media_root: /var/lib/asterisk/sounds/hotline\n"
            "  calendar: cities/shenzhen.yaml\n"
        ),
    )
    settings = load_settings(cfg, environ={})
    assert settings.ari.url == "http://pbx.example:8088"  # trailing slash removed
    assert settings.ari.username == "callcenter"
    assert settings.ari.app == "hotline"
    assert settings.http.port == 9000
    assert settings.http.host == "127.0.0.1"
    assert settings.calls.dialout_endpoint == "PJSIP/9{number}@city-trunk"
    assert settings.calls.shutdown_grace_seconds == 5.0
    assert settings.calls.fallback_context == "hotline-fallback"
    assert settings.ivr.prompts_media_root == "/var/lib/asterisk/sounds/hotline"
    assert settings.ivr.calendar == tmp_path / "cities/shenzhen.yaml"
    assert settings.ivr.queues == tmp_path / "queues.yaml"  # default, resolved too


def test_ivr_paths_are_relative_to_the_config_file_not_the_working_directory(
    tmp_path: Path, monkeypatch
):
    flows = tmp_path / "srv" / "flows"
    cfg = write(
        tmp_path / "etc" / "hotline.yaml",
        (
            "ivr:\n"
            f"  flows_dir: {flows}\n"
            "  prompts_dir: ../prompts\n"
            "  calendar: calendar.yaml\n"
            "  queues: ./q/queues.yaml\n"
            "  lookup_fixture: ../data/lookup.yaml\n"
            "  directory: /srv/directory.yaml\n"
        ),
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ivr = load_settings(cfg, environ={}).ivr
    etc = tmp_path / "etc"
    assert ivr.flows_dir == flows  # absolute: kept
    assert ivr.prompts_dir == etc / "../prompts"
    assert ivr.calendar == etc / "calendar.yaml"
    assert ivr.queues == etc / "q/queues.yaml"
    assert ivr.lookup_fixture == etc / "../data/lookup.yaml"
    assert ivr.directory == Path("/srv/directory.yaml")
    assert all(getattr(ivr, name).is_absolute() for name in IVR_PATHS)
    assert ivr.paths() == IvrPaths(
        flows,
        etc / "../prompts",
        etc / "calendar.yaml",
        etc / "q/queues.yaml",
        etc / "../data/lookup.yaml",
        Path("/srv/directory.yaml"),
    )


def test_the_shipped_config_points_at_the_shipped_ivr_files():
    ivr = load_settings(ROOT / "config" / "hotline.yaml", environ={}).ivr
    assert ivr.flows_dir.resolve() == ROOT / "ivr_flows"
    assert ivr.prompts_dir.resolve() == ROOT / "ivr_flows" / "prompts"
    for name in ("calendar", "queues", "lookup_fixture", "directory"):
        path = getattr(ivr, name)
        assert path.parent.resolve() == ROOT / "config"
        assert path.is_file(), path


def test_environment_overrides_file(tmp_path: Path):
    cfg = write(
        tmp_path / "hotline.yaml",
        "database:\n  url: postgresql+asyncpg://a:b@localhost/x\nhttp:\n  port: 9000\n",
    )
    settings = load_settings(
        cfg,
        environ={
            "DATABASE_URL": ASYNCPG_URL,
            "ARI_PASSWORD": "from-env",
            "ARI_URL": "https://pbx.example:8089",
            "ARI_USERNAME": "ops",
            "HOTLINE_HTTP_PORT": "8181",
        },
    )
    assert settings.database.url == ASYNCPG_URL
    assert settings.ari.password == "from-env"
    assert settings.ari.url == "https://pbx.example:8089"
    assert settings.ari.username == "ops"
    assert settings.http.port == 8181


def test_empty_environment_values_are_ignored(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "http:\n  port: 9000\n")
    settings = load_settings(cfg, environ={"HOTLINE_HTTP_PORT": "", "ARI_PASSWORD": ""})
    assert settings.http.port == 9000
    assert settings.ari.password is None


def test_explicit_environ_replaces_process_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_HTTP_PORT", "7777")
    assert load_settings(tmp_path / "absent.yaml", environ={}).http.port == 8080
    assert load_settings(tmp_path / "absent.yaml").http.port == 7777


def test_password_file_is_relative_to_config_file(tmp_path, monkeypatch):
    write(tmp_path / "run" / "secrets" / "ari-password", "  s3cret-pass\n")
    cfg = write(
        tmp_path / "config" / "hotline.yaml", "ari:\n  password_file: ../run/secrets/ari-password\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = load_settings(cfg, environ={})
    assert settings.ari.password_file == tmp_path / "config" / "../run/secrets/ari-password"
    ari = settings.ari_settings()
    assert ari.password == "s3cret-pass"
    assert (ari.url, ari.username, ari.app) == ("http://127.0.0.1:8088", "hotline", "hotline")


def test_absolute_password_file_is_kept(tmp_path: Path):
    secret = write(tmp_path / "secret", "abs-pass")
    cfg = write(tmp_path / "config" / "hotline.yaml", f"ari:\n  password_file: {secret}\n")
    settings = load_settings(cfg, environ={})
    assert settings.ari.password_file == secret
    assert settings.ari_settings().password == "abs-pass"


def test_password_from_environment_wins_over_password_file(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "ari:\n  password_file: missing-file\n")
    settings = load_settings(cfg, environ={"ARI_PASSWORD": "env-pass"})
    assert settings.ari_settings().password == "env-pass"


def test_missing_password_file_is_config_error(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "ari:\n  password_file: secrets/ari-password\n")
    settings = load_settings(cfg, environ={})
    with pytest.raises(ConfigError) as info:
        settings.ari_settings()
    message = str(info.value)
    assert "ari.password_file" in message
    assert str(tmp_path / "secrets" / "ari-password") in message


def test_no_password_at_all_is_config_error():
    with pytest.raises(ConfigError, match="required"):
        Settings().ari_settings()


@pytest.mark.parametrize("content", ["", "  \n"])
def test_empty_password_file_is_config_error(tmp_path: Path, content):
    secret = write(tmp_path / "empty-secret", content)
    cfg = write(tmp_path / "hotline.yaml", f"ari:\n  password_file: {secret}\n")
    with pytest.raises(ConfigError, match="required"):
        load_settings(cfg, environ={}).ari_settings()


# --- errors name file, line, column and field ------------------------------------------


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path):
    cfg = write(
        tmp_path / "hotline.yaml", "ari:\n  url: http://x\nhttp:\n  port: [8080\n  host: x\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value).startswith(f"{cfg}:5:7: YAML syntax error")


def test_wrong_type_names_file_line_column_and_field(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "http:\n  host: 0.0.0.0\n  port: abc\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert re.match(rf"{re.escape(str(cfg))}:3:9: http\.port: .*integer", str(info.value))


def test_unknown_field_names_file_line_and_field(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "log_level: INFO\nhttp:\n  prot: 8080\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value).startswith(f"{cfg}:3:9: http.prot: Extra inputs are not permitted")


def test_every_problem_is_reported_on_its_own_line(tmp_path: Path):
    cfg = write(
        tmp_path / "hotline.yaml",
        "http:\n  port: 70000\ncalls:\n  dialout_endpoint: PJSIP/trunk\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{cfg}:2:9: http.port:")
    assert lines[1].startswith(f"{cfg}:4:21: calls.dialout_endpoint:")


def test_top_level_must_be_a_mapping(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "- ari\n- http\n")
    with pytest.raises(ConfigError, match=re.escape(f"{cfg}:1:1")):
        load_settings(cfg, environ={})


def test_non_asyncpg_database_url_in_file_is_rejected(tmp_path: Path):
    cfg = write(
        tmp_path / "hotline.yaml",
        "database:\n  url: postgresql://hotline:hotline@127.0.0.1/hotline\n",
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value).startswith(f"{cfg}:2:8: database.url:")
    assert "asyncpg" in str(info.value)


def test_non_asyncpg_database_url_from_environment_is_rejected(tmp_path: Path):
    with pytest.raises(
        ConfigError, match=r"environment variable DATABASE_URL \(database\.url\): .*asyncpg"
    ):
        load_settings(
            tmp_path / "absent.yaml",
            environ={"DATABASE_URL": "postgresql://hotline@127.0.0.1/hotline"},
        )


def test_ari_url_must_be_http(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "ari:\n  url: ws://127.0.0.1:8088\n")
    with pytest.raises(ConfigError, match=r"ari\.url: .*http://"):
        load_settings(cfg, environ={})


def test_unreadable_config_path_is_config_error(tmp_path: Path):
    folder = tmp_path / "hotline.yaml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(folder, environ={})


def test_dialout_endpoint_must_contain_the_number(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "calls:\n  dialout_endpoint: PJSIP/dialout-trunk\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value) == (
        f"{cfg}:2:21: calls.dialout_endpoint: "
        "Value error, must contain {number}, e.g. PJSIP/{number}@dialout-trunk"
    )


def test_welcome_media_is_gone_and_refused_as_unknown(tmp_path: Path):
    # The IVR flows play the welcome now; an old config must not silently keep it.
    cfg = write(tmp_path / "hotline.yaml", "calls:\n  welcome_media: [sound:hello-world]\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value) == f"{cfg}:2:18: calls.welcome_media: Extra inputs are not permitted"


def test_unknown_ivr_field_names_file_line_and_field(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "ivr:\n  flow_dir: flows\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value) == f"{cfg}:2:13: ivr.flow_dir: Extra inputs are not permitted"


def test_a_list_where_a_value_is_expected_points_at_the_list(tmp_path: Path):
    cfg = write(tmp_path / "hotline.yaml", "ivr:\n  calendar:\n    - a.yaml\n    - b.yaml\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value).startswith(f"{cfg}:3:5: ivr.calendar: ")


def test_error_in_a_list_item_points_at_that_item(tmp_path: Path):
    # hotline.yaml has no lists; the queues file it points at (ivr.queues) has.
    cfg = write(tmp_path / "config" / "hotline.yaml", "ivr:\n  queues: ../queues.yaml\n")
    queues = write(
        tmp_path / "queues.yaml",
        "queues:\n  general:\n    languages:\n      - zh\n      - 42\n",
    )
    settings = load_settings(cfg, environ={})
    assert settings.ivr.queues == tmp_path / "config" / "../queues.yaml"
    with pytest.raises(ConfigError) as info:
        load_queues(settings.ivr.queues)
    assert str(info.value) == (
        f"{settings.ivr.queues}:5:9: queues.general.languages.1: Input should be a valid string"
    )
    assert settings.ivr.queues.resolve() == queues
