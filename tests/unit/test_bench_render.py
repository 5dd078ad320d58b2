"""Asterisk rendered for bench/: the bench's numbers and app_queue exist only then,
and reach only from the bench trunk; the production render is left as it was."""

from __future__ import annotations

from pathlib import Path

from callcenter import asteriskconf

ROOT = Path(__file__).resolve().parents[2]
FRAGMENTS = ROOT / "bench" / "asterisk"


def renders() -> tuple[dict[str, str], dict[str, str]]:
    """(production render, bench render) of the project's templates."""
    vals = asteriskconf.values(
        asteriskconf.AsteriskYaml(), state="/hotline/run", moddir="/mods", password="pw"
    )
    plain = asteriskconf.render(ROOT / "asterisk-conf", vals)
    bench = asteriskconf.add_fragments(plain, FRAGMENTS, asteriskconf.bench_values(vals))
    return plain, bench


def test_production_render_has_no_bench_numbers_trunk_or_queue() -> None:
    plain, _ = renders()
    assert "[bench]" not in plain["extensions.conf"]
    assert "bench-trunk" not in plain["pjsip.conf"]
    assert "app_queue" not in plain["modules.conf"]
    assert "queues.conf" not in plain


def test_bench_render_only_adds_after_the_production_configuration() -> None:
    plain, bench = renders()
    for name, text in plain.items():
        assert bench[name].startswith(text), name  # 12345 and the trunks unchanged
    extensions = bench["extensions.conf"]
    added = extensions[len(plain["extensions.conf"]) :]
    assert "[bench]" in added and "include =>" not in added  # no context includes it
    assert "load => app_queue.so" in bench["modules.conf"]
    members = [line for line in bench["queues.conf"].splitlines() if line.startswith("member")]
    assert len(members) == asteriskconf.BENCH_SEATS
    assert members[0] == f"member => PJSIP/{asteriskconf.bench_seat(1)}"


def test_the_bench_trunk_answers_only_the_bench_address() -> None:
    _, bench = renders()
    pjsip = bench["pjsip.conf"]
    trunk = pjsip[pjsip.index("[bench-trunk](endpoint-defaults)") :]
    assert "context = bench\n" in trunk
    assert "identify_by = ip\n" in trunk
    source = asteriskconf.BENCH_SOURCE
    assert f"deny = 0.0.0.0/0.0.0.0\ndeny = ::/0\npermit = {source}/32" in trunk
    assert f"match = {source}/32" in trunk
    assert "127.0.0.1" not in trunk  # the citizen trunk's address never lands in [bench]


def test_a_production_render_removes_what_a_bench_render_left(tmp_path: Path) -> None:
    plain, bench = renders()
    asteriskconf.write(tmp_path, bench)
    (tmp_path / "pjsip_agents.conf").write_text("; seats\n")
    asteriskconf.remove_extra(tmp_path, plain, FRAGMENTS)
    asteriskconf.write(tmp_path, plain)
    assert not (tmp_path / "queues.conf").exists()
    assert (tmp_path / "pjsip_agents.conf").exists()  # not the bench's to remove
    assert "[bench]" not in (tmp_path / "extensions.conf").read_text()
