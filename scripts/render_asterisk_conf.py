"""Render asterisk-conf/*.conf templates with config/asterisk.yaml into a folder.

Usage: render_asterisk_conf.py OUT_DIR MODDIR STATE_DIR_IN_ROOT
The ARI password is generated once into run/secrets/ari-password (never committed).
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from string import Template

import yaml

ROOT = Path(__file__).resolve().parent.parent


def ari_password(secrets_dir: Path) -> str:
    path = secrets_dir / "ari-password"
    if not path.exists():
        secrets_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


def main(out_dir: Path, moddir: str, state: str) -> None:
    cfg_path = ROOT / "config" / "asterisk.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    try:
        values = {
            "state": state,
            "moddir": moddir,
            "http_bind": cfg["http"]["bind"],
            "http_port": cfg["http"]["port"],
            "http_session_limit": cfg["http"]["session_limit"],
            "ari_username": cfg["ari"]["username"],
            "ari_password": ari_password(ROOT / "run" / "secrets"),
            "ari_ws_write_timeout": max(1000, int(cfg["ari"]["websocket_write_timeout_ms"])),
            "rtp_start": cfg["rtp"]["start"],
            "rtp_end": cfg["rtp"]["end"],
            "sip_bind": cfg["sip"]["bind"],
            "media_address": cfg["sip"]["media_address"],
            "dialout_contact": cfg["sip"]["dialout_contact"],
            "trunk_match": "\n".join(f"match = {m}" for m in cfg["sip"]["citizen_trunk_match"]),
            "hotline_number": cfg["hotline"]["number"],
            "app": cfg["hotline"]["app"],
            "apology_prompt": cfg["hotline"]["apology_prompt"],
        }
    except (KeyError, TypeError) as exc:
        sys.exit(f"{cfg_path}: missing or malformed field {exc}")
    out_dir.mkdir(parents=True, exist_ok=True)
    for template in sorted((ROOT / "asterisk-conf").glob("*.conf")):
        try:
            text = Template(template.read_text()).substitute(values)
        except (KeyError, ValueError) as exc:
            sys.exit(f"{template}: unknown placeholder {exc}")
        (out_dir / template.name).write_text(text)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(Path(sys.argv[1]), sys.argv[2], sys.argv[3])
