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

# Asterisk's own identity: a host system account that no other account shares
# (the root's Debian package picks uid 101, which on a host is often postgres),
# and the same ids for the `asterisk` user inside the root.
ASTERISK_USER=hotline-asterisk

_id_in() { # _id_in ID FILE... : some entry of these passwd/group files has this id
    local id=$1 f files=(); shift
    for f in "$@"; do [ -f "$f" ] && files+=("$f"); done
    [ ${#files[@]} -gt 0 ] || return 1
    awk -F: -v id="$id" '$3 == id { found = 1 } END { exit !found }' "${files[@]}"
}

_free_system_id() { # an id no user or group has, on the host or in the root
    local id
    for id in $(seq 999 -1 100); do
        _id_in "$id" /etc/passwd /etc/group "$ASTERISK_ROOT/etc/passwd" "$ASTERISK_ROOT/etc/group" \
            || { echo "$id"; return 0; }
    done
    die "no free system uid/gid between 100 and 999"
}

asterisk_account() {
    # Set ASTERISK_UID and ASTERISK_GID to the host's hotline-asterisk account,
    # creating it first.
    if ! getent group "$ASTERISK_USER" >/dev/null; then
        step "creating system group $ASTERISK_USER"
        groupadd --system --gid "$(_free_system_id)" "$ASTERISK_USER" \
            || die "cannot create group $ASTERISK_USER"
    fi
    local gid uid
    gid=$(getent group "$ASTERISK_USER" | cut -d: -f3)
    if ! getent passwd "$ASTERISK_USER" >/dev/null; then
        uid=$gid
        _id_in "$uid" /etc/passwd "$ASTERISK_ROOT/etc/passwd" && uid=$(_free_system_id)
        step "creating system user $ASTERISK_USER (uid $uid)"
        useradd --system --uid "$uid" --gid "$gid" --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --comment "Asterisk of the 12345 hotline (chrooted)" \
            "$ASTERISK_USER" || die "cannot create user $ASTERISK_USER"
    fi
    uid=$(getent passwd "$ASTERISK_USER" | cut -d: -f3)
    # Nobody else on the host may have these ids (Asterisk could signal their
    # processes or own their files).
    [ "$(awk -F: -v id="$uid" '$3 == id' /etc/passwd | wc -l)" = 1 ] \
        || die "uid $uid of $ASTERISK_USER is shared with another account (see /etc/passwd)"
    [ "$(awk -F: -v id="$gid" '$3 == id' /etc/group | wc -l)" = 1 ] \
        || die "gid $gid of $ASTERISK_USER is shared with another group (see /etc/group)"
    ASTERISK_UID=$uid ASTERISK_GID=$gid
}

adopt_asterisk_ids() {
    # The root's `asterisk` user and group take the host account's ids, and its
    # files follow. Idempotent; works on a root built by older set-ups (uid 101).
    # Call with nothing mounted into the root (find must stay in the root).
    local uid gid old_uid old_gid
    asterisk_account
    uid=$ASTERISK_UID gid=$ASTERISK_GID
    old_uid=$(awk -F: '$1 == "asterisk" { print $3 }' "$ASTERISK_ROOT/etc/passwd")
    old_gid=$(awk -F: '$1 == "asterisk" { print $3 }' "$ASTERISK_ROOT/etc/group")
    [ -n "$old_uid" ] && [ -n "$old_gid" ] || die "no asterisk user in $ASTERISK_ROOT"
    [ "$old_uid" = "$uid" ] && [ "$old_gid" = "$gid" ] && return 0
    step "Asterisk's own ids in the root: asterisk $old_uid:$old_gid -> $uid:$gid ($ASTERISK_USER)"
    if [ "$old_gid" != "$gid" ]; then
        _id_in "$gid" "$ASTERISK_ROOT/etc/group" && die "gid $gid is taken inside $ASTERISK_ROOT"
        chroot "$ASTERISK_ROOT" groupmod --gid "$gid" asterisk || die "groupmod in the root failed"
        find "$ASTERISK_ROOT" -xdev -gid "$old_gid" -exec chgrp -h "$gid" {} +
    fi
    if [ "$old_uid" != "$uid" ]; then
        _id_in "$uid" "$ASTERISK_ROOT/etc/passwd" && die "uid $uid is taken inside $ASTERISK_ROOT"
        chroot "$ASTERISK_ROOT" usermod --uid "$uid" --gid "$gid" asterisk \
            || die "usermod in the root failed"
        find "$ASTERISK_ROOT" -xdev -uid "$old_uid" -exec chown -h "$uid" {} +
    fi
}
