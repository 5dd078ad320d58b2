"""The command line's token: written once, owner-only, read back the same."""

from __future__ import annotations

import stat
from pathlib import Path

from callcenter.users import service_token


def test_the_token_is_written_once_for_the_owner_only(tmp_path: Path):
    path = tmp_path / "secrets" / "service-token"
    assert service_token.headers(path) == {}  # the service never ran here
    first = service_token.ensure(path)
    assert len(first) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert service_token.ensure(path) == first  # a restart keeps it
    assert service_token.headers(path) == {"Authorization": f"Bearer {first}"}


def test_an_empty_token_file_gets_a_token(tmp_path: Path):
    path = tmp_path / "service-token"
    path.write_text("\n")
    assert service_token.ensure(path) and service_token.read(path)
