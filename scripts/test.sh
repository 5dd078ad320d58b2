#!/usr/bin/env bash
# Run the test suite against its own database (<db>_test beside the service's).
# Tests start and stop their own Asterisk and service; a hotline left running
# by `make up` is stopped first, since both need the same ports.
source "$(dirname "$0")/lib.sh"

if [ -z "${TEST_DATABASE_URL:-}" ]; then
    main_url=$(cd "$PROJECT_ROOT" && "$VENV/bin/callcenter" db url)
    TEST_DATABASE_URL="${main_url%/*}/$(basename "${main_url##*/}")_test"
fi
export TEST_DATABASE_URL
"$PROJECT_ROOT/scripts/postgres.sh" "$TEST_DATABASE_URL"
"$PROJECT_ROOT/scripts/stack.sh" down
cd "$PROJECT_ROOT"
exec "$VENV/bin/pytest" -p no:cacheprovider "$@"
