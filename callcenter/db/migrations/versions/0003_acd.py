"""ACD: queue calls, callback tasks (漏话回拨), agent state log; answered/callback dispositions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD = ("completed", "abandoned", "overflow", "shutdown", "failed", "lost", "transferred")
NEW = (*OLD, "answered", "callback")


def _disposition_check(values: tuple[str, ...]) -> None:
    op.drop_constraint("call_disposition", "calls", type_="check")
    op.create_check_constraint(
        "call_disposition",
        "calls",
        "disposition IN (" + ", ".join(f"'{v}'" for v in values) + ")",
    )


def upgrade() -> None:
    _disposition_check(NEW)
    op.create_table(
        "queue_calls",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column(
            "call_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("wait_seconds", sa.Float, nullable=False),
        # answered | abandoned | overflow | callback | shutdown
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("agent_id", sa.String(32)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("talk_seconds", sa.Float),
        sa.Column("wrapup_seconds", sa.Float),
        sa.Column("transferred_to", sa.String(64)),
        sa.Column(
            "recording_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("recordings.id", ondelete="SET NULL"),
        ),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
    )
    op.create_index("ix_queue_calls_call_id", "queue_calls", ["call_id"])
    op.create_index("ix_queue_calls_entered_at", "queue_calls", ["entered_at"])
    op.create_table(
        "callback_tasks",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),  # abandoned | requested
        # The caller's place: callbacks are served in the order callers queued.
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    )
    op.create_index("ix_callback_tasks_status_queued_at", "callback_tasks", ["status", "queued_at"])
    op.create_table(
        "agent_state_log",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        sa.Column("call_id", postgresql.UUID(as_uuid=True)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_agent_state_log_agent_at", "agent_state_log", ["agent_id", "at"])


def downgrade() -> None:
    op.drop_table("agent_state_log")
    op.drop_table("callback_tasks")
    op.drop_table("queue_calls")
    op.execute(
        "UPDATE calls SET disposition = 'completed' WHERE disposition IN ('answered', 'callback')"
    )
    _disposition_check(OLD)
