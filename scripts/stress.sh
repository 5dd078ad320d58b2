#!/usr/bin/env bash
# The flakiness check of issue 11: the integration suite, N times in a row
# (default 5), while stress-ng keeps both cores busy. Stops at the first red
# run and says which. Usage: stress.sh [RUNS] [pytest args...]
source "$(dirname "$0")/lib.sh"

RUNS="${1:-5}"; shift || true
apt_install stress-ng
mkdir -p "$RUN_DIR/logs"
# In a session of its own, like any other program loading the machine: with
# the kernel's autogroup scheduling, a hog started in the tests' own session
# shares that session's slice with pytest, SIPp and the service and starves
# them (SIPp's INVITEs time out) while Asterisk, in its own session, idles.
setsid stress-ng --cpu "$(nproc)" --timeout 0 --quiet &
load=$!
trap 'kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true' EXIT
for run in $(seq 1 "$RUNS"); do
    step "integration suite under load: run $run of $RUNS"
    log="$RUN_DIR/logs/stress-run-$run.log"
    if ! "$PROJECT_ROOT/scripts/test.sh" tests/integration -q "$@" >"$log" 2>&1; then
        tail -n 30 "$log"
        die "run $run of $RUNS failed under load; see $log"
    fi
    tail -n 1 "$log"
done
step "$RUNS runs in a row passed under stress-ng --cpu $(nproc)"
