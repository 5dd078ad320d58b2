#!/usr/bin/env bash
# Type-check callcenter/ (mypy --strict), then run the test suite against its
# own database (<db>_test beside the service's), dropped and recreated each run
# so no run sees an earlier run's rows. A
# database named in TEST_DATABASE_URL is the caller's: it is kept.
# Tests start and stop their own Asterisk and service; a hotline left running
# by `make up` is stopped first, since both need the same ports.
source "$(dirname "$0")/lib.sh"

# Types first (as `make lint` checks them): a type error fails the run before
# the slow tests start. Settings in pyproject.toml ([tool.mypy], strict).
step "mypy --strict callcenter/"
(cd "$PROJECT_ROOT" && "$VENV/bin/mypy") || die "mypy found type errors (above)"

fresh=()
if [ -z "${TEST_DATABASE_URL:-}" ]; then
    main_url=$(cd "$PROJECT_ROOT" && "$VENV/bin/callcenter" db url)
    TEST_DATABASE_URL="${main_url%/*}/$(basename "${main_url##*/}")_test"
    fresh=(--fresh)
fi
export TEST_DATABASE_URL
"$PROJECT_ROOT/scripts/postgres.sh" "${fresh[@]}" "$TEST_DATABASE_URL"
"$PROJECT_ROOT/scripts/stack.sh" down
cd "$PROJECT_ROOT"
exec "$VENV/bin/pytest" -p no:cacheprovider "$@"
