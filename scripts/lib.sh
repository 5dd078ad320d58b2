# Shared helpers for the provisioning scripts. Sourced, never run.
set -euo pipefail

PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Cache outside git: the Asterisk root filesystem is ~400 MB and machine-specific.
CACHE_DIR="${HOTLINE_CACHE_DIR:-/var/cache/hotline12345}"
ASTERISK_ROOT="${ASTERISK_ROOT:-$CACHE_DIR/asterisk-root}"
RUN_DIR="${HOTLINE_RUN_DIR:-$PROJECT_ROOT/run}"
VENV="${HOTLINE_VENV:-$PROJECT_ROOT/.venv}"

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
skip() { printf '    %s (already done)\n' "$*"; }
die() { printf '\033[31mERROR: %s\033[0m\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "$1 needs root (it installs packages / mounts into the Asterisk root)"
}

apt_install() {
    # apt_install PKG... : install Debian packages that are missing.
    local missing=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    need_root "installing ${missing[*]}"
    step "apt-get install ${missing[*]}"
    mkdir -p "$CACHE_DIR"
    local log="$CACHE_DIR/apt.log"
    if [ ! -f "$CACHE_DIR/.apt-updated" ] || [ -n "$(find "$CACHE_DIR/.apt-updated" -mmin +1440 2>/dev/null)" ]; then
        apt-get update -q >>"$log" 2>&1 || die "apt-get update failed; see $log"
        touch "$CACHE_DIR/.apt-updated"
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >>"$log" 2>&1 || die "apt-get install ${missing[*]} failed; see $log"
}

host_debian_mirror() {
    # The mirror the host already uses for Debian (never hard-coded in the repo).
    local uri
    uri=$( (grep -hE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
            grep -hE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
              | sed -E 's/\[[^]]*\]//' | awk '{print $2}') \
          | grep -E '/debian/?$' | head -n1)
    [ -n "$uri" ] || die "no Debian mirror found in /etc/apt/sources.list*; set DEBIAN_MIRROR"
    echo "${uri%/}"
}
