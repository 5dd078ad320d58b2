"""The lookup's limits come from config/hotline.yaml, validated with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import load_settings
from callcenter.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_the_shipped_config_sets_the_limits_and_trusts_no_proxy():
    settings = load_settings(ROOT / "config" / "hotline.yaml", environ={})
    limits = settings.tickets.public_lookup
    assert (limits.code_failures, limits.lock_seconds) == (5, 900)
    assert settings.http.trusted_proxies == ()


def test_the_configured_numbers_drive_the_guard(tmp_path: Path):
    path = tmp_path / "hotline.yaml"
    path.write_text(
        "tickets:\n  public_lookup:\n    code_failures: 2\n    lock_seconds: 30\n"
        "http:\n  trusted_proxies: [10.0.0.0/8]\n"
    )
    settings = load_settings(path, environ={})
    now = [0.0]
    guard = settings.tickets.public_lookup.guard(clock=lambda: now[0])
    assert guard.attempt("ip:a", "123456782") == 0
    assert guard.attempt("ip:b", "123456782") == 0
    assert guard.attempt("ip:c", "123456782") == 30
    assert [str(n) for n in settings.http.trusted_proxies] == ["10.0.0.0/8"]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("tickets:\n  public_lookup:\n    code_failures: 0\n", "code_failures"),
        ("tickets:\n  public_lookup:\n    lock_seconds: -1\n", "lock_seconds"),
        ("tickets:\n  public_lookup:\n    lock_minutes: 5\n", "lock_minutes"),
        ("http:\n  trusted_proxies: [everyone]\n", "trusted_proxies"),
    ],
)
def test_bad_limits_name_the_file_line_and_field(tmp_path: Path, text: str, field: str):
    path = tmp_path / "hotline.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"hotline.yaml:\d+:\d+: .*{field}"):
        load_settings(path, environ={})
