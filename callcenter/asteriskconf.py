"""Asterisk's configuration: ``asterisk-conf/*.conf`` rendered with ``config/asterisk.yaml``.

Rendered as root at every start (``scripts/render_asterisk_conf.py``) into a
folder Asterisk reads but cannot write: files 0640 root:asterisk, written
through :mod:`callcenter.safefiles`. The ARI password stays in plain text only
in ``run/secrets/ari-password`` (0600, the service's); ``ari.conf`` holds its
SHA-512 crypt hash. Trunks are identified by source address alone and refuse
every address outside their ``permit`` list.
"""

from __future__ import annotations

import hashlib
import ipaddress
import resource
import secrets
from pathlib import Path
from string import Template
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from callcenter import safefiles
from callcenter.config import CallsConfig
from callcenter.errors import ConfigError
from callcenter.yamlfile import load_yaml, validate_document


def _network(value: str) -> str:
    """An address or network as Asterisk's ACLs take it (127.0.0.1 → 127.0.0.1/32)."""
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise ValueError(f"{value!r} is not an IP address or network (e.g. 192.0.2.10/32)") from exc


Network = Annotated[str, AfterValidator(_network)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SipConfig(_Strict):
    bind: str = "127.0.0.1:5060"
    # Where new requests for each trunk may come from (identify by source address,
    # and an ACL on the endpoint refusing everything else).
    citizen_trunk_permit: list[Network] = Field(["127.0.0.1/32"], min_length=1)
    dialout_trunk_permit: list[Network] = Field(["127.0.0.1/32"], min_length=1)
    media_address: str = "127.0.0.1"
    dialout_contact: str = "sip:127.0.0.1:5090"


class RtpConfig(_Strict):
    start: int = Field(10000, ge=1024, le=65535)
    end: int = Field(20000, ge=1024, le=65535)


class HttpConfig(_Strict):
    bind: str = "127.0.0.1"
    port: int = Field(8088, ge=1, le=65535)
    session_limit: int = Field(1000, ge=1)


class AriConfig(_Strict):
    username: str = Field("hotline", pattern=r"^[A-Za-z0-9_.-]+$")
    websocket_write_timeout_ms: int = Field(2000, ge=1000)


class HotlineConfig(_Strict):
    number: str = Field("12345", pattern=r"^[0-9]+$")
    app: str = "hotline"
    apology_prompt: str = "sorry-youre-having-problems"


class AsteriskYaml(_Strict):
    sip: SipConfig = SipConfig()
    rtp: RtpConfig = RtpConfig()
    http: HttpConfig = HttpConfig()
    ari: AriConfig = AriConfig()
    hotline: HotlineConfig = HotlineConfig()


def load(path: Path) -> AsteriskYaml:
    doc = load_yaml(path)
    return validate_document(doc, AsteriskYaml, doc.data or {})


# -- SHA-512 crypt (what ari.conf's password_format = crypt verifies with crypt(3)) --

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Which digest bytes make each group of four characters (Drepper's specification):
# (0, 21, 42), (22, 43, 1), (44, 2, 23), (3, 24, 45), ... rotating by one each time.
_ORDER = [((i, i + 21, i + 42), (i + 21, i + 42, i), (i + 42, i, i + 21))[i % 3] for i in range(21)]


def _repeat(block: bytes, length: int) -> bytes:
    return (block * (length // len(block) + 1))[:length]


def sha512_crypt(password: str, salt: str | None = None, rounds: int = 5000) -> str:
    """``$6$salt$hash`` as glibc/libxcrypt's crypt(3) makes it (rounds 5000, the default)."""
    key = password.encode("utf-8")
    salt_bytes = (salt if salt is not None else secrets.token_hex(8)).encode("ascii")[:16]
    alt = hashlib.sha512(key + salt_bytes + key).digest()
    a = hashlib.sha512(key + salt_bytes + _repeat(alt, len(key)))
    n = len(key)
    while n:
        a.update(alt if n & 1 else key)
        n >>= 1
    digest = a.digest()
    p = _repeat(hashlib.sha512(key * len(key)).digest(), len(key))
    s = _repeat(hashlib.sha512(salt_bytes * (16 + digest[0])).digest(), len(salt_bytes))
    for r in range(rounds):
        h = hashlib.sha512(p if r & 1 else digest)
        if r % 3:
            h.update(s)
        if r % 7:
            h.update(p)
        h.update(digest if r & 1 else p)
        digest = h.digest()
    out = []
    for b2, b1, b0 in _ORDER:
        out.append(_b64(digest[b2] << 16 | digest[b1] << 8 | digest[b0], 4))
    out.append(_b64(digest[63], 2))
    head = "$6$" if rounds == 5000 else f"$6$rounds={rounds}$"
    return head + salt_bytes.decode("ascii") + "$" + "".join(out)


def _b64(value: int, chars: int) -> str:
    out = []
    for _ in range(chars):
        out.append(_ITOA64[value & 0x3F])
        value >>= 6
    return "".join(out)


# -- rendering --------------------------------------------------------------------


def ari_password(secrets_dir: Path) -> str:
    """The ARI password, generated once into ``secrets_dir/ari-password`` (0600)."""
    path = secrets_dir / "ari-password"
    try:
        password = safefiles.read_text(path).strip()
    except FileNotFoundError:
        password = ""
    if not password:
        password = secrets.token_urlsafe(24)
        safefiles.ensure_dir(secrets_dir, mode=0o700)
        safefiles.write_file(path, password + "\n", mode=0o600)
    return password


def _acl(permit: list[str]) -> str:
    """An endpoint ACL: refuse everything (IPv4 and IPv6), then permit the list."""
    return "\n".join(["deny = 0.0.0.0/0.0.0.0", "deny = ::/0", *(f"permit = {p}" for p in permit)])


# File handles per call Asterisk may hold, for asterisk.conf's maxfiles (which
# scripts/asterisk.sh also sets as the hard limit before Asterisk drops root).
# A served call at its heaviest: caller and agent channels (RTP + RTCP sockets,
# an alert fd and a timer fd each), the bridge's channel alerts, the
# recording's channel and file, a snoop or a playback file: 16. A refused
# call: its channel and the busy prompt's file: 6. Plus the fixed part:
# modules, SIP transports, logs (the ARI/HTTP sessions are added apart).
HANDLES_PER_CALL = 16
HANDLES_PER_REFUSAL = 6
HANDLES_FIXED = 1024


def max_files(calls: CallsConfig, http_sessions: int) -> int:
    """Asterisk's file-handle limit for the service's call cap: the service
    serves ``max_calls`` and lets ``overload_prompt_slots`` more hear the busy
    prompt; every other call is refused unanswered, so this bound holds."""
    return (
        HANDLES_FIXED
        + http_sessions
        + calls.max_calls * HANDLES_PER_CALL
        + calls.overload_prompt_slots * HANDLES_PER_REFUSAL
    )


def calls_within(files: int, calls: CallsConfig, http_sessions: int) -> int:
    """The largest ``max_calls`` that ``files`` handles can serve (for the warning)."""
    refusals = calls.overload_prompt_slots * HANDLES_PER_REFUSAL
    spare = files - HANDLES_FIXED - http_sessions - refusals
    return max(0, spare // HANDLES_PER_CALL)


def allowed_files(wanted: int) -> int:
    """As many file handles as this machine lets Asterisk have, up to ``wanted``.

    Root raises the hard limit when it may (CAP_SYS_RESOURCE); a container
    without that capability keeps the hard limit it was given (20,000 here).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or wanted <= hard:
        return wanted
    try:  # this short-lived process's own limit: may it go that high?
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, wanted))
    except (OSError, ValueError):
        return hard
    return wanted


def values(
    cfg: AsteriskYaml,
    *,
    state: str,
    moddir: str,
    password: str,
    calls: CallsConfig | None = None,
) -> dict[str, object]:
    """The templates' placeholders; ``calls`` is the service's (config/hotline.yaml)."""
    return {
        "state": state,
        "moddir": moddir,
        "maxfiles": max_files(calls or CallsConfig(), cfg.http.session_limit),
        "http_bind": cfg.http.bind,
        "http_port": cfg.http.port,
        "http_session_limit": cfg.http.session_limit,
        "ari_username": cfg.ari.username,
        "ari_password_crypt": sha512_crypt(password),
        "ari_ws_write_timeout": cfg.ari.websocket_write_timeout_ms,
        "rtp_start": cfg.rtp.start,
        "rtp_end": cfg.rtp.end,
        "sip_bind": cfg.sip.bind,
        "media_address": cfg.sip.media_address,
        "dialout_contact": cfg.sip.dialout_contact,
        "citizen_trunk_match": "\n".join(f"match = {p}" for p in cfg.sip.citizen_trunk_permit),
        "citizen_trunk_acl": _acl(cfg.sip.citizen_trunk_permit),
        "dialout_trunk_acl": _acl(cfg.sip.dialout_trunk_permit),
        "hotline_number": cfg.hotline.number,
        "app": cfg.hotline.app,
        "apology_prompt": cfg.hotline.apology_prompt,
    }


def render(templates: Path, vals: dict[str, object]) -> dict[str, str]:
    """Every ``*.conf`` template in ``templates`` filled in: file name → text."""
    out = {}
    for template in sorted(templates.glob("*.conf")):
        try:
            out[template.name] = Template(template.read_text()).substitute(vals)
        except (KeyError, ValueError) as exc:
            raise ConfigError(f"{template}: unknown placeholder {exc}") from exc
    return out


def write(out_dir: Path, files: dict[str, str], group: int = -1) -> None:
    """Into ``out_dir`` (0750 root:``group``), each file 0640 root:``group``."""
    safefiles.ensure_dir(out_dir, mode=0o750, group=group)
    for name, text in files.items():
        safefiles.write_file(out_dir / name, text, mode=0o640, group=group)


# -- benchmarks -------------------------------------------------------------------

# Set to 1 when Asterisk is started for bench/ (scripts/asterisk.sh passes the
# environment on to the render): the bench trunk, its [bench] context and the
# native queue are added; otherwise they are left out, and removed if a bench
# left them.
BENCH_ENV = "HOTLINE_ASTERISK_BENCH"
BENCH_SOURCE = "127.0.0.9"  # the only address the bench trunk answers
BENCH_SEATS = 20
BENCH_APP = "bench-bare"


def bench_seat(index: int) -> str:
    """The name of the ``index``-th bench seat (1-based), in the roster and in queues.conf."""
    return f"bench-seat-{index:02d}"


def bench_values(vals: dict[str, object], *, wrapup: int = 1) -> dict[str, object]:
    members = "\n".join(f"member => PJSIP/{bench_seat(i)}" for i in range(1, BENCH_SEATS + 1))
    return {
        **vals,
        "bench_source": BENCH_SOURCE,
        "bench_app": BENCH_APP,
        "bench_wrapup": wrapup,
        "bench_members": members,
        "prompts": "/hotline/prompts",
    }


def add_fragments(
    files: dict[str, str], fragments: Path, vals: dict[str, object]
) -> dict[str, str]:
    """Each ``fragments/*.conf`` filled in and appended to the rendered file of its
    name (a file of its own when there is none)."""
    out = dict(files)
    for name, text in render(fragments, vals).items():
        out[name] = out.get(name, "") + text
    return out


def remove_extra(out_dir: Path, files: dict[str, str], fragments: Path) -> None:
    """Remove what a bench render added as files of their own (e.g. queues.conf)."""
    for template in fragments.glob("*.conf"):
        if template.name not in files:
            (out_dir / template.name).unlink(missing_ok=True)
