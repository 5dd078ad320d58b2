"""Record operations carry an id: rows without a natural key get ``op_id``
(unique), so a batch written again after a lost COMMIT answer, or a spool
replayed after a crash, lands once

The unique indexes are built CONCURRENTLY (outside a transaction): a plain
CREATE INDEX would hold writes to call_events, a big table the service
writes to all the time, for as long as the build takes. Every step may run
again: a run interrupted midway (killed, a lock timeout, a failed build)
leaves its columns and possibly an INVALID index behind, and the next run
drops that index and builds it anew.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Tables the call record writer inserts into whose key is made by the database
# (a sequence). The others (calls, queue_calls, recordings, voicemails) get
# their uuid when the operation is submitted, and it is kept in the spool.
TABLES = ("call_events", "agent_state_log", "surveys", "queue_requests", "callback_tasks")


def _index(table: str) -> str:
    return f"uq_{table}_op_id"


def _has_column(table: str) -> bool:
    found = op.get_bind().execute(
        sa.text(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = :t AND column_name = 'op_id'"
        ),
        {"t": table},
    )
    return found.first() is not None


def _invalid_index(name: str) -> bool:
    """An index of this name left INVALID by an interrupted concurrent build."""
    found = op.get_bind().execute(
        sa.text(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :n AND n.nspname = current_schema() AND NOT i.indisvalid"
        ),
        {"n": name},
    )
    return found.first() is not None


def upgrade() -> None:
    offline = op.get_context().as_sql
    with op.get_context().autocommit_block():  # each statement commits on its own
        for table in TABLES:
            # Nullable, no default: only the catalogue changes (no rewrite, a moment's
            # lock). Asked only when missing, so a run again takes no lock for it.
            if offline or not _has_column(table):
                op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS op_id uuid")
        for table in TABLES:
            name = _index(table)
            if not offline and _invalid_index(name):
                op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.execute(f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} (op_id)")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for table in TABLES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_index(table)}")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS op_id")
