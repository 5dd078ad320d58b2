#!/usr/bin/env bash
# Start, stop and inspect Asterisk running chrooted in the cached Debian-unstable root.
# Usage: asterisk.sh start|stop|restart|status|cli "COMMAND"
source "$(dirname "$0")/lib.sh"

# The run folder is bind-mounted into the root as /hotline/run: Asterisk's
# configuration, state and logs live there, beside the service's.
STATE="$RUN_DIR/asterisk"
LOGS="$RUN_DIR/logs"
IN_ROOT=/hotline
CONF="$IN_ROOT/run/asterisk/etc/asterisk.conf"

ast() { chroot "$ASTERISK_ROOT" /usr/sbin/asterisk -C "$CONF" "$@"; }

mount_bind() { # mount_bind HOST_DIR DIR_IN_ROOT
    local target="$ASTERISK_ROOT$2"
    mkdir -p "$1" "$target"
    mountpoint -q "$target" || mount --bind "$1" "$target" || die "cannot bind-mount $1 into the root"
}

mounts_up() {
    mountpoint -q "$ASTERISK_ROOT/proc" || mount -t proc proc "$ASTERISK_ROOT/proc" \
        || die "cannot mount /proc into the root"
    mountpoint -q "$ASTERISK_ROOT/dev" || mount --bind /dev "$ASTERISK_ROOT/dev" \
        || die "cannot mount /dev into the root"
    mount_bind "$RUN_DIR" "$IN_ROOT/run"
    mount_bind "$PROJECT_ROOT/recordings" "$IN_ROOT/recordings"
    mount_bind "$PROJECT_ROOT/ivr_flows/prompts" "$IN_ROOT/prompts"
}

mounts_down() {
    for m in "$IN_ROOT/prompts" "$IN_ROOT/recordings" "$IN_ROOT/run" /dev /proc; do
        mountpoint -q "$ASTERISK_ROOT$m" && umount "$ASTERISK_ROOT$m" 2>/dev/null || true
    done
}

asterisk_uid() { chroot "$ASTERISK_ROOT" id -u asterisk; }

render() {
    local moddir
    moddir=$(cd "$ASTERISK_ROOT" && ls -d usr/lib/*/asterisk/modules 2>/dev/null | head -n1)
    [ -n "$moddir" ] || die "no Asterisk modules folder in $ASTERISK_ROOT"
    mkdir -p "$STATE"/{etc,lib,spool,run} "$LOGS/asterisk" "$PROJECT_ROOT/recordings"
    "$VENV/bin/python" "$PROJECT_ROOT/scripts/render_asterisk_conf.py" \
        "$STATE/etc" "/$moddir" "$IN_ROOT/run" || die "rendering Asterisk configuration failed"
    ln -sfn "$IN_ROOT/recordings" "$STATE/spool/recording"
    (cd "$PROJECT_ROOT" && "$VENV/bin/callcenter" agents render >/dev/null) \
        || die "rendering the agents' seats failed (agents/roster.yaml)"
    local uid; uid=$(asterisk_uid)
    chown -R "$uid:$uid" "$STATE" "$LOGS/asterisk" "$PROJECT_ROOT/recordings"
}

pid() { cat "$STATE/run/asterisk.pid" 2>/dev/null || true; }
running() { local p; p=$(pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

start() {
    [ -f "$ASTERISK_ROOT/.hotline-ready" ] || die "no Asterisk root at $ASTERISK_ROOT (run make setup)"
    if running; then skip "Asterisk running (pid $(pid))"; return 0; fi
    render
    mounts_up
    step "starting Asterisk 22 (chroot $ASTERISK_ROOT)"
    rm -f "$STATE/run/asterisk.ctl" "$STATE/run/asterisk.pid"
    ast -U asterisk -G asterisk -n >>"$LOGS/asterisk/console.log" 2>&1 \
        || die "Asterisk failed to start; see $LOGS/asterisk/messages.log"
    for _ in $(seq 1 100); do
        if ast -rx "core waitfullybooted" >/dev/null 2>&1; then
            # ARI answers once res_ari is loaded; wait for HTTP too.
            for _ in $(seq 1 50); do
                curl -s -o /dev/null "http://127.0.0.1:8088/ari/asterisk/info" && return 0
                sleep 0.1
            done
            die "Asterisk is up but ARI does not answer on 127.0.0.1:8088"
        fi
        sleep 0.1
    done
    die "Asterisk did not finish booting; see $LOGS/asterisk/messages.log"
}

stop() {
    if running; then
        step "stopping Asterisk"
        local p; p=$(pid)
        ast -rx "core stop now" >/dev/null 2>&1 || kill "$p" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && { kill -9 "$p" 2>/dev/null || true; }
    fi
    mounts_down
}

case "${1:-}" in
    start) need_root "starting Asterisk"; start ;;
    stop) need_root "stopping Asterisk"; stop ;;
    restart) need_root "restarting Asterisk"; stop; start ;;
    status) if running; then echo "asterisk: running (pid $(pid))"; else echo "asterisk: stopped"; exit 3; fi ;;
    cli) shift; ast -rx "$*" ;;
    render) render ;;
    *) die "usage: $0 start|stop|restart|status|cli COMMAND" ;;
esac
