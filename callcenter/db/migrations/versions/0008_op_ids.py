"""Record operations carry an id: rows without a natural key get ``op_id``
(unique), so a batch written again after a lost COMMIT answer, or a spool
replayed after a crash, lands once

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Tables the call record writer inserts into whose key is made by the database
# (a sequence). The others (calls, queue_calls, recordings, voicemails) get
# their uuid when the operation is submitted, and it is kept in the spool.
TABLES = ("call_events", "agent_state_log", "surveys", "queue_requests", "callback_tasks")


def upgrade() -> None:
    for table in TABLES:
        # Nullable: rows written before, and by other writers, have none.
        op.add_column(table, sa.Column("op_id", postgresql.UUID(as_uuid=True), nullable=True))
        op.create_index(f"uq_{table}_op_id", table, ["op_id"], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"uq_{table}_op_id", table_name=table)
        op.drop_column(table, "op_id")
