#!/usr/bin/env bash
# Make DATABASE_URL reachable: use the server there if it answers, otherwise
# install and start Debian's postgresql; create the role and database; migrate.
# Usage: postgres.sh [--fresh] [DATABASE_URL]
#   --fresh  drop the database first (the test suite's own, so every run starts
#            from the same empty schema rather than from earlier runs' rows)
source "$(dirname "$0")/lib.sh"

FRESH=0
if [ "${1:-}" = "--fresh" ]; then FRESH=1; shift; fi
URL="${1:-${DATABASE_URL:-$(cd "$PROJECT_ROOT" && "$VENV/bin/callcenter" db url)}}"
# Split the SQLAlchemy URL (postgresql+asyncpg://user:pass@host:port/db).
read -r DB_USER DB_PASS DB_HOST DB_PORT DB_NAME < <("$VENV/bin/python" - "$URL" <<'PY'
import sys
from sqlalchemy.engine import make_url
u = make_url(sys.argv[1])
print(u.username or "postgres", u.password or "-", u.host or "127.0.0.1", u.port or 5432, u.database or "hotline")
PY
) || die "DATABASE_URL is not a valid SQLAlchemy URL: $URL"

apt_install postgresql-client
can_login() { PGPASSWORD="$DB_PASS" psql -w -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_NAME" -Atqc 'select 1' >/dev/null 2>&1; }
server_up() { pg_isready -q -h "$DB_HOST" -p "$DB_PORT"; }

# Run SQL as a superuser: trust over TCP as postgres, else the local postgres account.
admin_sql() {
    psql -w -h "$DB_HOST" -p "$DB_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -Atqc "$1" 2>/dev/null \
        || runuser -u postgres -- psql -p "$DB_PORT" -d postgres -v ON_ERROR_STOP=1 -Atqc "$1"
}

if ! server_up; then
    case "$DB_HOST" in 127.0.0.1|localhost|::1) ;; *) die "PostgreSQL at $DB_HOST:$DB_PORT does not answer" ;; esac
    apt_install postgresql
    step "starting PostgreSQL"
    cluster=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    [ -n "$cluster" ] || die "postgresql installed but no cluster in /etc/postgresql"
    pg_ctlcluster --skip-systemctl-redirect "$cluster" main start 2>/dev/null \
        || pg_ctlcluster "$cluster" main start || die "cannot start PostgreSQL $cluster/main"
    for _ in $(seq 1 50); do server_up && break; sleep 0.2; done
    server_up || die "PostgreSQL did not start listening on $DB_HOST:$DB_PORT"
fi

if [ "$FRESH" = 1 ]; then
    step "dropping database $DB_NAME for a fresh start"
    admin_sql "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" \
        || die "cannot drop database $DB_NAME"
fi

# The password set-up generated (run/secrets/db-password) is ours to give to
# the role, every time: a server that trusts loopback would never tell us the
# role still has an old one. A password that came with a URL is the owner's.
SECRET="$RUN_DIR/secrets/db-password"
OURS=0
if [ "$DB_PASS" != "-" ] && [ -f "$SECRET" ] && [ "$DB_PASS" = "$(cat "$SECRET")" ]; then OURS=1; fi
sql_pass() { printf "'%s'" "${DB_PASS//\'/\'\'}"; }

if can_login && [ "$OURS" = 0 ]; then
    skip "PostgreSQL database $DB_NAME at $DB_HOST:$DB_PORT"
else
    step "role $DB_USER and database $DB_NAME"
    pass_sql=""; [ "$DB_PASS" != "-" ] && pass_sql=" PASSWORD $(sql_pass)"
    if [ "$(admin_sql "select 1 from pg_roles where rolname='$DB_USER'")" != 1 ]; then
        admin_sql "CREATE ROLE \"$DB_USER\" LOGIN$pass_sql" || die "cannot create role $DB_USER"
    elif [ "$OURS" = 1 ]; then
        admin_sql "ALTER ROLE \"$DB_USER\" PASSWORD $(sql_pass)" \
            || can_login || die "cannot set the password of role $DB_USER (and it cannot log in)"
    fi
    if [ "$(admin_sql "select 1 from pg_database where datname='$DB_NAME'")" != 1 ]; then
        admin_sql "CREATE DATABASE \"$DB_NAME\" OWNER \"$DB_USER\"" || die "cannot create database $DB_NAME"
    fi
    can_login || die "cannot log in to $DB_NAME as $DB_USER at $DB_HOST:$DB_PORT (check pg_hba.conf)"
fi

step "migrating $DB_NAME"
DATABASE_URL="$URL" "$VENV/bin/callcenter" db upgrade || die "database migration failed"
