#!/usr/bin/env bash
# The whole hotline: Asterisk (chrooted) + the callcenter service.
# Usage: stack.sh up|down|status|run|supervise
# `up` runs the service under a small supervisor that starts it again within a
# second whenever it dies (kill -9, a crash), until `down`; production uses the
# systemd units in deploy/systemd/ instead.
source "$(dirname "$0")/lib.sh"

LOGS="$RUN_DIR/logs"
PIDFILE="$RUN_DIR/callcenter.pid"            # the service itself
SUPERVISOR_PIDFILE="$RUN_DIR/callcenter-supervisor.pid"
RESPAWN_DELAY=1
# Like systemd's start limit: this many deaths within START_LIMIT_SECONDS and the
# supervisor gives up (a bad config, the port taken, a crash soon after start).
START_LIMIT_SECONDS=60
START_LIMIT_BURST=5
HTTP="http://127.0.0.1:${HOTLINE_HTTP_PORT:-8080}"
export HOTLINE_CONFIG="${HOTLINE_CONFIG:-$PROJECT_ROOT/config/hotline.yaml}"

# A pid file outlives its process (a reboot, a kill -9 of the supervisor) and the
# number may since belong to another program: believe it only when the process
# is still what we started.
pid_is() { # pid_is PID WORD: PID runs a command line containing WORD
    [ -n "$1" ] && kill -0 "$1" 2>/dev/null \
        && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q -- "$2"
}
service_pid() { cat "$PIDFILE" 2>/dev/null || true; }
service_running() { pid_is "$(service_pid)" "callcenter serve"; }

wait_healthy() {
    for _ in $(seq 1 150); do
        curl -sf -o /dev/null "$HTTP/healthz" && return 0
        service_running || die "callcenter exited during start-up; see $LOGS/callcenter.log"
        sleep 0.2
    done
    die "callcenter did not become healthy at $HTTP/healthz; see $LOGS/callcenter.log"
}

supervisor_pid() { cat "$SUPERVISOR_PIDFILE" 2>/dev/null || true; }
supervisor_running() { pid_is "$(supervisor_pid)" "stack.sh supervise"; }

say() { echo "$(date -u +%FT%TZ) supervisor: $*" >>"$LOGS/callcenter.log"; }

supervise() {
    # Runs `callcenter serve`, and again RESPAWN_DELAY s after it dies; SIGTERM
    # (stack.sh down) is passed on and the service's drain awaited, then it ends.
    local child="" stopping="" rc now deaths=()
    trap 'stopping=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
    cd "$PROJECT_ROOT"
    while [ -z "$stopping" ]; do
        "$VENV/bin/callcenter" serve >>"$LOGS/callcenter.log" 2>&1 </dev/null &
        child=$!
        echo "$child" >"$PIDFILE"
        # wait returns early when a signal is trapped: wait again until it is gone.
        while :; do
            rc=0; wait "$child" || rc=$?  # (set -e: a non-zero status is expected)
            kill -0 "$child" 2>/dev/null || break
        done
        child=""
        [ -n "$stopping" ] && break
        now=$(date +%s)
        deaths=("${deaths[@]}" "$now")
        [ "${#deaths[@]}" -gt "$START_LIMIT_BURST" ] && deaths=("${deaths[@]:1}")
        if [ "${#deaths[@]}" -ge "$START_LIMIT_BURST" ] \
            && [ $(( now - deaths[0] )) -lt "$START_LIMIT_SECONDS" ]; then
            say "callcenter died ${#deaths[@]} times within ${START_LIMIT_SECONDS}s (last status $rc); giving up"
            break
        fi
        say "callcenter exited with status $rc; starting it again in ${RESPAWN_DELAY}s"
        sleep "$RESPAWN_DELAY"
    done
    rm -f "$PIDFILE" "$SUPERVISOR_PIDFILE"
}

service_up() {
    if supervisor_running; then skip "callcenter supervised (pid $(supervisor_pid))"; return 0; fi
    if service_running; then skip "callcenter running (pid $(service_pid))"; return 0; fi
    step "starting callcenter serve under its supervisor (log: $LOGS/callcenter.log)"
    mkdir -p "$LOGS"
    rm -f "$PIDFILE"
    setsid "$0" supervise </dev/null >>"$LOGS/callcenter.log" 2>&1 &
    echo $! >"$SUPERVISOR_PIDFILE"
    for _ in $(seq 1 50); do service_running && break; sleep 0.1; done
    wait_healthy
}

service_down() {
    local p
    if supervisor_running; then
        p=$(supervisor_pid)
        step "stopping callcenter (supervisor pid $p): finishing calls in progress"
        kill -TERM "$p"
        # Calls get their configured grace; allow that plus the flush.
        for _ in $(seq 1 900); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$p" 2>/dev/null && kill -9 "$p"  # it must not start the service again
    fi
    rm -f "$SUPERVISOR_PIDFILE"
    service_running || { rm -f "$PIDFILE"; return 0; }
    p=$(service_pid)
    step "stopping callcenter (pid $p): finishing calls in progress"
    kill -TERM "$p"
    for _ in $(seq 1 900); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && { echo "callcenter did not stop; killing"; kill -9 "$p"; }
    rm -f "$PIDFILE"
}

case "${1:-}" in
    up)
        "$PROJECT_ROOT/scripts/asterisk.sh" start
        service_up
        echo "hotline up: SIP udp 127.0.0.1:5060 (dial 12345), ARI 127.0.0.1:8088, HTTP $HTTP"
        ;;
    down)
        service_down
        "$PROJECT_ROOT/scripts/asterisk.sh" stop
        ;;
    status)
        rc=0
        "$PROJECT_ROOT/scripts/asterisk.sh" status || rc=3
        if service_running; then
            echo "callcenter: running (pid $(service_pid)$(supervisor_running \
                && echo ", supervisor pid $(supervisor_pid)"))"
            curl -s "$HTTP/healthz" && echo
        else
            echo "callcenter: stopped"; rc=3
        fi
        exit $rc
        ;;
    run)
        service_running && die "the hotline is already running in the background (make down first)"
        "$PROJECT_ROOT/scripts/asterisk.sh" start
        trap '"$PROJECT_ROOT/scripts/asterisk.sh" stop' EXIT
        trap 'true' INT TERM  # the service gets the signal too and drains its calls
        step "callcenter serve in the foreground (Ctrl-C stops everything; logs in $LOGS)"
        cd "$PROJECT_ROOT"
        # tee ignores Ctrl-C so the service's last words (its drain) still reach the screen.
        "$VENV/bin/callcenter" serve 2>&1 | (trap '' INT; tee -a "$LOGS/callcenter.log") || true
        ;;
    supervise) supervise ;;  # internal: what `up` runs in the background
    *) die "usage: $0 up|down|status|run" ;;
esac
