"""Asterisk's rendered configuration: crypt ARI password, trunks known by address
only with a permit list, files Asterisk reads but cannot change."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from callcenter import asteriskconf
from callcenter.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def sections(text: str) -> dict[str, list[tuple[str, str]]]:
    """pjsip.conf as {section header: [(key, value), ...]} (later headers add up)."""
    out: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if line.startswith("["):
            current = line
            out.setdefault(current, [])
        elif "=" in line and current is not None:
            key, value = (part.strip() for part in line.split("=", 1))
            out[current].append((key, value))
    return out


def rendered(tmp_path: Path, yaml_text: str | None = None) -> dict[str, str]:
    path = tmp_path / "asterisk.yaml"
    path.write_text(
        yaml_text if yaml_text is not None else (ROOT / "config/asterisk.yaml").read_text()
    )
    cfg = asteriskconf.load(path)
    vals = asteriskconf.values(cfg, state="/hotline/run", moddir="/mods", password="s3cret-pw")
    return asteriskconf.render(ROOT / "asterisk-conf", vals)


def test_sha512_crypt_matches_the_specification():
    # Test vectors from Drepper's "Unix crypt using SHA-256 and SHA-512".
    assert asteriskconf.sha512_crypt("Hello world!", "saltstring") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdF"
        "CoEOfaS35inz1"
    )
    assert asteriskconf.sha512_crypt("Hello world!", "saltstringsaltstring", rounds=10000) == (
        "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0"
        "Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."
    )


def test_ari_conf_holds_a_crypt_hash_never_the_password(tmp_path):
    ari = rendered(tmp_path)["ari.conf"]
    user = sections(ari)["[hotline]"]
    assert ("password_format", "crypt") in user
    [hashed] = [v for k, v in user if k == "password"]
    salt = hashed.split("$")[2]
    assert hashed == asteriskconf.sha512_crypt("s3cret-pw", salt)
    assert "s3cret-pw" not in ari


def test_trunks_are_identified_by_address_only_and_refuse_other_addresses(tmp_path):
    conf = sections(rendered(tmp_path)["pjsip.conf"])
    assert ("endpoint_identifier_order", "username,ip") in conf["[global]"]  # no anonymous
    for trunk in ("[citizen-trunk](endpoint-defaults)", "[dialout-trunk](endpoint-defaults)"):
        body = conf[trunk]
        assert ("identify_by", "ip") in body
        acl = [(k, v) for k, v in body if k in ("deny", "permit")]
        assert acl == [("deny", "0.0.0.0/0.0.0.0"), ("deny", "::/0"), ("permit", "127.0.0.1/32")]
    assert ("match", "127.0.0.1/32") in conf["[citizen-trunk-identify]"]
    assert "[dialout-trunk-identify]" not in conf  # nothing calls in through it


def test_permit_lists_come_from_the_yaml(tmp_path):
    conf = sections(
        rendered(
            tmp_path,
            "sip:\n  citizen_trunk_permit: [192.0.2.10, 198.51.100.0/28]\n"
            "  dialout_trunk_permit: [203.0.113.5/32]\n",
        )["pjsip.conf"]
    )
    citizen = conf["[citizen-trunk](endpoint-defaults)"]
    assert [v for k, v in citizen if k == "permit"] == ["192.0.2.10/32", "198.51.100.0/28"]
    assert [v for k, v in conf["[citizen-trunk-identify]"] if k == "match"] == [
        "192.0.2.10/32",
        "198.51.100.0/28",
    ]
    dialout = conf["[dialout-trunk](endpoint-defaults)"]
    assert [v for k, v in dialout if k == "permit"] == ["203.0.113.5/32"]


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [
        (
            "sip:\n  citizen_trunk_permit: [anywhere]\n",
            ":2:26: sip.citizen_trunk_permit.0: .*not an IP address",
        ),
        ("sip:\n  dialout_trunk_permit: []\n", ":2:25: sip.dialout_trunk_permit:"),
        (
            "sip:\n  citizen_trunk_match: [127.0.0.1]\n",
            ":2:24: sip.citizen_trunk_match: Extra inputs",
        ),
    ],
)
def test_a_bad_permit_list_names_file_and_line(tmp_path, yaml_text, where):
    with pytest.raises(ConfigError, match=rf"asterisk\.yaml{where}"):
        rendered(tmp_path, yaml_text)


def test_written_for_asterisk_to_read_and_not_change(tmp_path):
    out = tmp_path / "etc"
    asteriskconf.write(out, rendered(tmp_path), group=os.getgid())
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    for conf in out.iterdir():
        assert stat.S_IMODE(conf.stat().st_mode) == 0o640, conf.name
        assert conf.stat().st_gid == os.getgid()


def test_the_ari_password_is_generated_once_owner_only(tmp_path):
    secrets = tmp_path / "secrets"
    first = asteriskconf.ari_password(secrets)
    assert len(first) >= 24
    assert stat.S_IMODE((secrets / "ari-password").stat().st_mode) == 0o600
    assert stat.S_IMODE(secrets.stat().st_mode) == 0o700
    assert asteriskconf.ari_password(secrets) == first
