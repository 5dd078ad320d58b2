"""Work orders: departments, tickets (with query code), dispatches, call links, audit trail

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NATURES = ("consultation", "help", "complaint", "report", "suggestion", "praise")
CHANNELS = ("phone", "voicemail", "sms", "web", "email")
STATUSES = (
    "registered",
    "dispatched",
    "objected",
    "accepted",
    "replied",
    "awaiting_callback",
    "closed",
    "reopened",
    "merged",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("parent_code", sa.String(32), sa.ForeignKey("departments.code")),
        sa.Column("districts", postgresql.JSONB, nullable=False, server_default="[]"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("query_code", sa.String(16), nullable=False, unique=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("nature", sa.String(16), nullable=False),
        sa.Column("category_code", sa.String(32)),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("caller_name", sa.String(64), nullable=False, server_default=""),
        sa.Column("caller_phone", sa.String(32), nullable=False, server_default=""),
        sa.Column("address", sa.String(256), nullable=False, server_default=""),
        sa.Column("district", sa.String(64), nullable=False, server_default=""),
        sa.Column("confidential", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("priority", sa.SmallInteger, nullable=False, server_default="0"),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("merged_into", postgresql.UUID(as_uuid=True), sa.ForeignKey("tickets.id")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True)),  # the current stage's deadline
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint(_in("nature", NATURES), name="ck_tickets_nature"),
        sa.CheckConstraint(_in("channel", CHANNELS), name="ck_tickets_channel"),
        sa.CheckConstraint(_in("status", STATUSES), name="ck_tickets_status"),
    )
    op.create_index("ix_tickets_caller_phone_created_at", "tickets", ["caller_phone", "created_at"])
    op.create_index("ix_tickets_status_due_at", "tickets", ["status", "due_at"])
    op.create_table(
        "dispatches",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "department_code", sa.String(32), sa.ForeignKey("departments.code"), nullable=False
        ),
        sa.Column("role", sa.String(8), nullable=False),  # lead (主办) | co (协办)
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accept_due", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handle_due", sa.DateTime(timezone=True)),
        sa.CheckConstraint("role IN ('lead', 'co')", name="ck_dispatches_role"),
    )
    op.create_index("ix_dispatches_department_state", "dispatches", ["department_code", "state"])
    op.create_index("ix_dispatches_ticket_id", "dispatches", ["ticket_id"])
    op.create_table(
        "ticket_calls",
        sa.Column(
            "ticket_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "call_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("calls.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_index("ix_ticket_calls_call_id", "ticket_calls", ["call_id"])
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("before", postgresql.JSONB),
        sa.Column("after", postgresql.JSONB),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
    )
    op.create_index("ix_ticket_events_ticket_id", "ticket_events", ["ticket_id", "id"])
    # The audit trail is append-only: the database refuses to change or delete it.
    op.execute("""
        CREATE FUNCTION ticket_events_append_only() RETURNS trigger AS $$
        BEGIN RAISE EXCEPTION 'ticket_events is append-only'; END $$ LANGUAGE plpgsql
    """)
    op.execute("""
        CREATE TRIGGER ticket_events_append_only BEFORE UPDATE OR DELETE ON ticket_events
        FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only()
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER ticket_events_append_only ON ticket_events")
    op.execute("DROP FUNCTION ticket_events_append_only()")
    op.drop_table("ticket_events")
    op.drop_table("ticket_calls")
    op.drop_table("dispatches")
    op.drop_table("tickets")
    op.drop_table("departments")
