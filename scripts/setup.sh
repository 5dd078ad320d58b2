#!/usr/bin/env bash
# Everything the hotline needs on a fresh Debian 12 machine (as root); each
# step is skipped when already done.
source "$(dirname "$0")/lib.sh"

need_root "setting up the hotline"
apt_install curl ca-certificates python3 sip-tester
"$PROJECT_ROOT/scripts/venv.sh"
"$PROJECT_ROOT/scripts/build-asterisk-root.sh"
"$PROJECT_ROOT/scripts/prompts.sh"
# The database role's password: generated once into run/secrets/db-password.
(cd "$PROJECT_ROOT" && "$VENV/bin/callcenter" db init-password)
"$PROJECT_ROOT/scripts/postgres.sh" "$(cd "$PROJECT_ROOT" && "$VENV/bin/callcenter" db url)"
"$PROJECT_ROOT/scripts/asterisk.sh" render  # also generates the ARI credentials once
