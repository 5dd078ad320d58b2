#!/usr/bin/env bash
# Start, stop and inspect Asterisk running chrooted in the cached Debian-unstable root.
# Usage: asterisk.sh start|stop|restart|status|render|cli "COMMAND"
#
# Asterisk runs as its own account (hotline-asterisk on the host, `asterisk`
# in the root, same ids), with no capability at all and umask 027. It sees
# only what it needs of the project, bind-mounted into the root: its state
# (run/asterisk: configuration it can read but not change, its database,
# spool and pid file), its logs, the recordings and the prompts; never the
# service's secrets, spool or logs.
source "$(dirname "$0")/lib.sh"

STATE="$RUN_DIR/asterisk"
LOGS="$RUN_DIR/logs"
IN_ROOT=/hotline
CONF="$IN_ROOT/run/asterisk/etc/asterisk.conf"

ast() { chroot "$ASTERISK_ROOT" /usr/sbin/asterisk -C "$CONF" "$@"; }

ast_daemon() { # ast_daemon MAXFILES
    # setpriv (inside the root) drops to the asterisk user with no supplementary
    # group, clears every capability (bounding set too) and forbids regaining
    # any; Asterisk's own -U would keep CAP_NET_ADMIN. umask 027: recordings
    # 0640 in 0750 folders. The file-handle limit (soft and hard) is the rendered
    # maxfiles, sized from the service's call cap: only root may raise it.
    (umask 027 && { ulimit -n "$1" || ulimit -n "$(ulimit -Hn)"; } && chroot "$ASTERISK_ROOT" /usr/bin/setpriv \
        --reuid=asterisk --regid=asterisk --clear-groups \
        --inh-caps=-all --bounding-set=-all --no-new-privs \
        /usr/sbin/asterisk -C "$CONF" -n)
}

mount_bind() { # mount_bind HOST_DIR DIR_IN_ROOT
    local target="$ASTERISK_ROOT$2" dir="$ASTERISK_ROOT" part
    # The folders down to the mount point are root's and searchable by
    # Asterisk's user whatever umask we run under (the tests run under 077: a
    # 0700 /hotline kept Asterisk from reading its own configuration). Stop at
    # a mount point: its mode is the bind-mounted folder's own.
    local IFS=/
    for part in ${2#/}; do
        dir="$dir/$part"
        mountpoint -q "$dir" && break
        [ -d "$dir" ] && [ ! -L "$dir" ] || mkdir "$dir" || die "cannot create $dir"
        chmod 0755 "$dir"
    done
    unset IFS
    mountpoint -q "$target" || mount --bind "$1" "$target" || die "cannot bind-mount $1 into the root"
}

mounts_up() {
    mountpoint -q "$ASTERISK_ROOT/proc" || mount -t proc proc "$ASTERISK_ROOT/proc" \
        || die "cannot mount /proc into the root"
    mountpoint -q "$ASTERISK_ROOT/dev" || mount --bind /dev "$ASTERISK_ROOT/dev" \
        || die "cannot mount /dev into the root"
    mount_bind "$STATE" "$IN_ROOT/run/asterisk"
    mount_bind "$LOGS/asterisk" "$IN_ROOT/run/logs/asterisk"
    mount_bind "$PROJECT_ROOT/recordings" "$IN_ROOT/recordings"
    mount_bind "$PROJECT_ROOT/ivr_flows/prompts" "$IN_ROOT/prompts"
}

mounts_down() {
    # $IN_ROOT/run was the whole run folder before Asterisk had its own account.
    for m in "$IN_ROOT/prompts" "$IN_ROOT/recordings" "$IN_ROOT/run/logs/asterisk" \
        "$IN_ROOT/run/asterisk" "$IN_ROOT/run" /dev /proc; do
        mountpoint -q "$ASTERISK_ROOT$m" && umount "$ASTERISK_ROOT$m" 2>/dev/null || true
    done
}

render() {
    local moddir
    moddir=$(cd "$ASTERISK_ROOT" && ls -d usr/lib/*/asterisk/modules 2>/dev/null | head -n1)
    [ -n "$moddir" ] || die "no Asterisk modules folder in $ASTERISK_ROOT"
    asterisk_account
    local uid=$ASTERISK_UID gid=$ASTERISK_GID
    # The service's: secrets, record spool, logs (0700/0750, root only).
    install -d -o root -g root -m 0700 "$RUN_DIR" "$RUN_DIR/secrets" "$RUN_DIR/spool"
    install -d -o root -g root -m 0750 "$LOGS"
    # Asterisk reads its configuration and may not change it ...
    install -d -o root -g "$gid" -m 0750 "$STATE" "$STATE/etc"
    # ... and writes its database, spool, pid file, logs and the recordings.
    install -d -o "$uid" -g "$gid" -m 0750 "$STATE"/{lib,spool,run} "$LOGS/asterisk" \
        "$PROJECT_ROOT/recordings"
    if ! running; then
        # Whatever older set-ups left: files of another uid (101), world-readable
        # recordings and secrets. Only while Asterisk is stopped, so nothing of
        # its user can swap a path under these (recursive chown/chmod never
        # follow links).
        chown -R "$uid:$gid" "$STATE"/{lib,spool,run} "$LOGS/asterisk" "$PROJECT_ROOT/recordings"
        chmod -R g-w,o-rwx "$STATE"/{lib,spool,run} "$LOGS/asterisk" "$PROJECT_ROOT/recordings"
        find "$RUN_DIR/secrets" "$RUN_DIR/spool" -maxdepth 1 -type f -exec chmod 0600 {} +
        find "$LOGS" -maxdepth 1 -type f -exec chmod o-rwx {} +
    fi
    "$VENV/bin/python" "$PROJECT_ROOT/scripts/render_asterisk_conf.py" \
        "$STATE/etc" "/$moddir" "$IN_ROOT/run" "$gid" || die "rendering Asterisk configuration failed"
    ln -sfn "$IN_ROOT/recordings" "$STATE/spool/recording"
    (cd "$PROJECT_ROOT" && "$VENV/bin/callcenter" agents render >/dev/null) \
        || die "rendering the agents' seats failed (agents/roster.yaml)"
}

in_root() { # in_root PID: is that process chrooted into our root (never "" = "")
    local root there
    root=$(realpath "$ASTERISK_ROOT" 2>/dev/null) || return 1
    there=$(readlink "/proc/$1/root" 2>/dev/null) || return 1
    [ -n "$root" ] && [ "$there" = "$root" ]
}

pid() {
    # The pid file is Asterisk's to write: believe it only for an asterisk
    # process chrooted into our root, so nobody steers root's kill elsewhere.
    local p; p=$(cat "$STATE/run/asterisk.pid" 2>/dev/null || true)
    [[ "$p" =~ ^[0-9]+$ ]] || return 0
    in_root "$p" || return 0
    [ "$(cat "/proc/$p/comm" 2>/dev/null)" = asterisk ] && echo "$p"
    return 0
}
running() { local p; p=$(pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start() {
    [ -f "$ASTERISK_ROOT/.hotline-ready" ] || die "no Asterisk root at $ASTERISK_ROOT (run make setup)"
    if running; then skip "Asterisk running (pid $(pid))"; return 0; fi
    kill_strays
    mounts_down
    adopt_asterisk_ids
    render
    mounts_up
    step "starting Asterisk 22 (chroot $ASTERISK_ROOT, user $ASTERISK_USER, no capabilities)"
    rm -f "$STATE/run/asterisk.ctl" "$STATE/run/asterisk.pid"
    local maxfiles
    maxfiles=$(sed -n 's/^maxfiles *= *\([0-9][0-9]*\) *$/\1/p' "$STATE/etc/asterisk.conf")
    [ -n "$maxfiles" ] || die "no maxfiles in $STATE/etc/asterisk.conf"
    # Root opens this log: in root's folder, not Asterisk's (where a link could
    # be waiting at its name).
    ast_daemon "$maxfiles" >>"$LOGS/asterisk-console.log" 2>&1 \
        || die "Asterisk failed to start; see $LOGS/asterisk/messages.log and $LOGS/asterisk-console.log"
    # A deadline, not a count of tries: on a loaded machine (the stress run,
    # a busy CI host) loading the modules alone can take well over 10 s.
    local deadline=$((SECONDS + ${ASTERISK_BOOT_TIMEOUT:-120}))
    # One try may block until the boot ends: bounded, so the deadline holds.
    until timeout 10 chroot "$ASTERISK_ROOT" /usr/sbin/asterisk -C "$CONF" \
        -rx "core waitfullybooted" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            stop  # never leave a half-booted Asterisk for the next start to find
            die "Asterisk did not finish booting within ${ASTERISK_BOOT_TIMEOUT:-120} s; see $LOGS/asterisk/messages.log"
        fi
        sleep 0.1
    done
    # ARI answers once res_ari is loaded; wait for HTTP too.
    until curl -s -o /dev/null "http://127.0.0.1:8088/ari/asterisk/info"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            stop
            die "Asterisk is up but ARI does not answer on 127.0.0.1:8088"
        fi
        sleep 0.1
    done
}

strays() {
    # Asterisk processes chrooted into our root that wrote no pid file of ours
    # (one that could not read its configuration runs on built-in defaults).
    local p
    for p in $(pgrep -x asterisk || true); do
        in_root "$p" && echo "$p"
    done
    return 0
}

kill_strays() {
    local stray
    for stray in $(strays); do
        step "stopping a stray Asterisk in the root (pid $stray)"
        kill -9 "$stray" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$stray" 2>/dev/null || break; sleep 0.1; done
    done
}

stop() {
    if running; then
        step "stopping Asterisk"
        local p; p=$(pid)
        ast -rx "core stop now" >/dev/null 2>&1 || kill "$p" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && { kill -9 "$p" 2>/dev/null || true; }
    fi
    kill_strays
    mounts_down
}

case "${1:-}" in
    start) need_root "starting Asterisk"; start ;;
    stop) need_root "stopping Asterisk"; stop ;;
    restart) need_root "restarting Asterisk"; stop; start ;;
    status) if running; then echo "asterisk: running (pid $(pid))"; else echo "asterisk: stopped"; exit 3; fi ;;
    cli) shift; ast -rx "$*" ;;
    render) need_root "rendering Asterisk's configuration"; render ;;
    *) die "usage: $0 start|stop|restart|status|render|cli COMMAND" ;;
esac
