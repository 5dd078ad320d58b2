"""Render asterisk-conf/*.conf templates with config/asterisk.yaml into a folder.

Usage: render_asterisk_conf.py OUT_DIR MODDIR STATE_DIR_IN_ROOT [GROUP_ID]
OUT_DIR becomes 0750 and its files 0640, root and GROUP_ID (Asterisk's group):
Asterisk reads its configuration and cannot change it. The ARI password is
generated once into run/secrets/ari-password (0600, never committed); ari.conf
holds its crypt hash. See callcenter/asteriskconf.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from callcenter import asteriskconf
from callcenter.config import load_settings
from callcenter.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def main(out_dir: Path, moddir: str, state: str, group: int) -> None:
    cfg = asteriskconf.load(ROOT / "config" / "asterisk.yaml")
    password = asteriskconf.ari_password(ROOT / "run" / "secrets")
    # The service's call cap sizes Asterisk's file-handle limit (maxfiles).
    service = Path(os.environ.get("HOTLINE_CONFIG") or ROOT / "config" / "hotline.yaml")
    calls = load_settings(service).calls
    vals = asteriskconf.values(cfg, state=state, moddir=moddir, password=password, calls=calls)
    wanted = asteriskconf.max_files(calls, cfg.http.session_limit)
    allowed = asteriskconf.allowed_files(wanted)
    if allowed < wanted:
        fits = asteriskconf.calls_within(allowed, calls, cfg.http.session_limit)
        print(
            f"warning: calls.max_calls {calls.max_calls} needs {wanted} file handles in "
            f"Asterisk; this machine allows {allowed} (raise the nofile hard limit, e.g. "
            f"LimitNOFILE= or the container's ulimit, or set calls.max_calls to {fits} or "
            f"less in {service})",
            file=sys.stderr,
        )
        vals["maxfiles"] = allowed
    files = asteriskconf.render(ROOT / "asterisk-conf", vals)
    bench = ROOT / "bench" / "asterisk"
    if os.environ.get(asteriskconf.BENCH_ENV) == "1":
        files = asteriskconf.add_fragments(files, bench, asteriskconf.bench_values(vals))
    else:
        asteriskconf.remove_extra(out_dir, files, bench)
    asteriskconf.write(out_dir, files, group)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    group = int(sys.argv[4]) if len(sys.argv) > 4 else -1
    try:
        main(Path(sys.argv[1]), sys.argv[2], sys.argv[3], group)
    except ConfigError as exc:
        sys.exit(str(exc))
