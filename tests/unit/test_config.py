from __future__ import annotations

import re
from pathlib import Path

import pytest

from callcenter.config import Settings, load_settings
from callcenter.errors import ConfigError

ASYNCPG_URL = "postgresql+asyncpg://hotline:s3cret@db.example:5432/hotline"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_gives_defaults(tmp_path: Path):
    settings = load_settings(tmp_path / "absent.yaml", environ={})
    assert settings == Settings()
    assert settings.ari.url == "http://127.0.0.1:8088"
    assert settings.ari.app == "hotline"
    assert settings.http.port == 8080
    assert settings.database.url.startswith("postgresql+asyncpg://")
    assert settings.calls.welcome_media == ["sound:hello-world"]


def test_empty_file_gives_defaults(tmp_path: Path):
    assert load_settings(write(tmp_path / "hotline.yaml", ""), environ={}) == Settings()


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
            "  welcome_media: [sound:/hotline/prompts/zh/welcome]\n"
            "  shutdown_grace_seconds: 5\n"
        ),
    )
    settings = load_settings(cfg, environ={})
    assert settings.ari.url == "http://pbx.example:8088"  # trailing slash removed
    assert settings.ari.username == "callcenter"
    assert settings.ari.app == "hotline"
    assert settings.http.port == 9000
    assert settings.http.host == "127.0.0.1"
    assert settings.calls.welcome_media == ["sound:/hotline/prompts/zh/welcome"]
    assert settings.calls.shutdown_grace_seconds == 5.0


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
    cfg = write(tmp_path / "hotline.yaml", "http:\n  port: 70000\ncalls:\n  welcome_media: []\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{cfg}:2:9: http.port:")
    assert lines[1].startswith(f"{cfg}:4:18: calls.welcome_media:")


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


def test_error_in_a_list_item_points_at_that_item(tmp_path: Path):
    cfg = write(
        tmp_path / "hotline.yaml", "calls:\n  welcome_media:\n    - sound:hello-world\n    - 42\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert str(info.value).startswith(f"{cfg}:4:7: calls.welcome_media.1:")
