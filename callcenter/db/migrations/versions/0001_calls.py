"""calls and call_events: one record per channel that enters Stasis, with its timeline

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DISPOSITIONS = ("completed", "abandoned", "overflow", "shutdown", "failed", "lost")


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("channel_id", sa.String(64), nullable=False, unique=True),
        sa.Column("linkedid", sa.String(64), nullable=False),
        sa.Column("channel_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("caller_number", sa.String(64), nullable=False, server_default=""),
        sa.Column("caller_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("dialled_number", sa.String(64), nullable=False, server_default=""),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("hangup_cause", sa.Integer),
        sa.Column("hangup_cause_text", sa.String(64)),
        sa.Column(
            "disposition",
            sa.Enum(
                *DISPOSITIONS,
                name="call_disposition",
                native_enum=False,
                length=16,
                create_constraint=True,
            ),
        ),
        sa.Column("last_stage", sa.String(64)),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "ended_at IS NULL OR disposition IS NOT NULL", name="ck_calls_closed_has_disposition"
        ),
    )
    op.create_index("ix_calls_linkedid", "calls", ["linkedid"])
    op.create_index("ix_calls_caller_number_started_at", "calls", ["caller_number", "started_at"])
    op.create_index("ix_calls_open", "calls", ["ended_at"], postgresql_where="ended_at IS NULL")
    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "call_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])


def downgrade() -> None:
    op.drop_table("call_events")
    op.drop_table("calls")
