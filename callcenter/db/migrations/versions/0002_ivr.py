"""IVR: flow version on calls; recordings, voicemails, surveys, queue requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD = ("completed", "abandoned", "overflow", "shutdown", "failed", "lost")
NEW = (*OLD, "transferred")


def _disposition_check(values: tuple[str, ...]) -> None:
    op.drop_constraint("call_disposition", "calls", type_="check")
    op.create_check_constraint(
        "call_disposition",
        "calls",
        "disposition IN (" + ", ".join(f"'{v}'" for v in values) + ")",
    )


def _call_fk() -> sa.Column[uuid.UUID]:
    return sa.Column(
        "call_id",
        postgresql.UUID(as_uuid=True),
        sa.ForeignKey("calls.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    _disposition_check(NEW)
    op.add_column("calls", sa.Column("flow", sa.String(64)))
    op.add_column("calls", sa.Column("flow_version", sa.String(16)))
    op.create_table(
        "recordings",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        _call_fk(),
        sa.Column("kind", sa.String(16), nullable=False),  # voicemail | conversation
        sa.Column("name", sa.String(255), nullable=False, unique=True),  # Asterisk's name
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_seconds", sa.Float),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64)),
        sa.CheckConstraint("kind IN ('voicemail', 'conversation')", name="ck_recordings_kind"),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])
    op.create_table(
        "voicemails",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        _call_fk(),
        sa.Column(
            "recording_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("recordings.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("caller_number", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        # Ticket stub: the tickets issue turns each new message into a work order.
        sa.Column("status", sa.String(16), nullable=False, server_default="new"),
    )
    op.create_index("ix_voicemails_status", "voicemails", ["status"])
    op.create_table(
        "surveys",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        _call_fk(),
        sa.Column("score", sa.SmallInteger, nullable=False),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_surveys_score"),
    )
    op.create_index("ix_surveys_call_id", "surveys", ["call_id"])
    op.create_table(
        "queue_requests",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        _call_fk(),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("skills", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("flow", sa.String(64), nullable=False),
        sa.Column("node", sa.String(64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_queue_requests_call_id", "queue_requests", ["call_id"])


def downgrade() -> None:
    op.drop_table("queue_requests")
    op.drop_table("surveys")
    op.drop_table("voicemails")
    op.drop_table("recordings")
    op.drop_column("calls", "flow_version")
    op.drop_column("calls", "flow")
    op.execute("UPDATE calls SET disposition = 'completed' WHERE disposition = 'transferred'")
    _disposition_check(OLD)
