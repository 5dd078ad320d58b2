#!/usr/bin/env bash
# A virtualenv with the project installed (editable, with dev extras).
source "$(dirname "$0")/lib.sh"

STAMP="$VENV/.installed"
if [ -f "$STAMP" ] && [ "$STAMP" -nt "$PROJECT_ROOT/pyproject.toml" ]; then
    skip "virtualenv $VENV"
    exit 0
fi
if ! python3 -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    apt_install python3
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
fi
step "creating virtualenv $VENV"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV" || die "python3 -m venv failed"
"$VENV/bin/pip" install -q --upgrade pip >/dev/null || true
"$VENV/bin/pip" install -q -e "$PROJECT_ROOT[dev]" || die "pip install failed"
touch "$STAMP"
