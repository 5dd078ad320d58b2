#!/usr/bin/env bash
# The whole hotline: Asterisk (chrooted) + the callcenter service.
# Usage: stack.sh up|down|status|run
source "$(dirname "$0")/lib.sh"

LOGS="$RUN_DIR/logs"
PIDFILE="$RUN_DIR/callcenter.pid"
HTTP="http://127.0.0.1:${HOTLINE_HTTP_PORT:-8080}"
export HOTLINE_CONFIG="${HOTLINE_CONFIG:-$PROJECT_ROOT/config/hotline.yaml}"

service_pid() { cat "$PIDFILE" 2>/dev/null || true; }
service_running() { local p; p=$(service_pid); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

wait_healthy() {
    for _ in $(seq 1 150); do
        curl -sf -o /dev/null "$HTTP/healthz" && return 0
        service_running || die "callcenter exited during start-up; see $LOGS/callcenter.log"
        sleep 0.2
    done
    die "callcenter did not become healthy at $HTTP/healthz; see $LOGS/callcenter.log"
}

service_up() {
    if service_running; then skip "callcenter running (pid $(service_pid))"; return 0; fi
    step "starting callcenter serve (log: $LOGS/callcenter.log)"
    mkdir -p "$LOGS"
    cd "$PROJECT_ROOT"
    setsid "$VENV/bin/callcenter" serve >>"$LOGS/callcenter.log" 2>&1 </dev/null &
    echo $! >"$PIDFILE"
    wait_healthy
}

service_down() {
    service_running || { rm -f "$PIDFILE"; return 0; }
    local p; p=$(service_pid)
    step "stopping callcenter (pid $p): finishing calls in progress"
    kill -TERM "$p"
    # Calls get their configured grace; allow that plus the flush.
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
            echo "callcenter: running (pid $(service_pid))"
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
    *) die "usage: $0 up|down|status|run" ;;
esac
