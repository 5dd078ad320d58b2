"""The ticket desk: category catalogue, knowledge base, search vectors, supervision
records with an outbox, callback (回访) tasks, extensions, voicemail → ticket

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

import re
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

REASONS = ("overdue", "objected", "returned", "repeated", "dissatisfied", "flagged")


def _timestamp(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column(
        "departments", sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true())
    )
    op.create_table(
        "categories",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("parent_code", sa.String(32), sa.ForeignKey("categories.code")),
        # Departments that usually handle it (the suggestion, 属地优先 within them).
        sa.Column("departments", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "kb_entries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("department_code", sa.String(32), sa.ForeignKey("departments.code")),
        sa.Column("tags", postgresql.JSONB, nullable=False, server_default="[]"),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date),
        sa.Column("search_vector", postgresql.TSVECTOR, nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="ck_kb_validity"),
    )
    op.create_index("ix_kb_entries_search", "kb_entries", ["search_vector"], postgresql_using="gin")

    op.add_column("tickets", _timestamp("stage_started_at", nullable=True))
    op.execute("UPDATE tickets SET stage_started_at = updated_at")
    op.add_column("tickets", sa.Column("kb_entry_id", sa.BigInteger))
    op.create_foreign_key("fk_tickets_kb_entry", "tickets", "kb_entries", ["kb_entry_id"], ["id"])
    op.add_column(
        "tickets", sa.Column("flags", postgresql.JSONB, nullable=False, server_default="[]")
    )
    # Codes tickets already carry become inactive categories (named by their
    # code) until the catalogue file names them: nothing stored is lost.
    op.execute("""
        INSERT INTO categories (code, name, active)
        SELECT DISTINCT category_code, category_code, false FROM tickets
        WHERE category_code IS NOT NULL
    """)
    op.create_foreign_key(
        "fk_tickets_category", "tickets", "categories", ["category_code"], ["code"]
    )
    op.add_column("tickets", sa.Column("search_vector", postgresql.TSVECTOR))
    op.create_index("ix_tickets_search", "tickets", ["search_vector"], postgresql_using="gin")
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_tickets_merged_into", "tickets", ["merged_into"])
    op.create_index("ix_tickets_address", "tickets", ["address"])
    op.create_index("ix_tickets_category_code", "tickets", ["category_code"])
    # What the 督办 sweep asks every minute, without reading the whole table.
    op.create_index(
        "ix_tickets_flagged", "tickets", ["id"], postgresql_where=sa.text("flags <> '[]'::jsonb")
    )
    op.create_index(
        "ix_ticket_events_link_call",
        "ticket_events",
        ["at"],
        postgresql_where=sa.text("action = 'link_call'"),
    )
    op.create_index(
        "ix_dispatches_returned",
        "dispatches",
        ["ticket_id"],
        postgresql_where=sa.text("state = 'returned'"),
    )

    op.add_column(
        "dispatches",
        sa.Column("extension_days", sa.SmallInteger, nullable=False, server_default="0"),
    )
    op.add_column("dispatches", sa.Column("extension_requested", sa.SmallInteger))
    op.add_column("dispatches", _timestamp("accepted_at", nullable=True))
    op.add_column("dispatches", sa.Column("extension_reason", sa.Text))

    op.create_table(
        "supervisions",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("opened_by", sa.String(64), nullable=False),
        _timestamp("opened_at"),
        _timestamp("resolved_at", nullable=True),
        sa.CheckConstraint(
            "reason IN (" + ", ".join(f"'{r}'" for r in REASONS) + ")",
            name="ck_supervisions_reason",
        ),
    )
    # One open record per ticket and reason: the sweep may run anywhere, any time.
    op.create_index(
        "ux_supervisions_open",
        "supervisions",
        ["ticket_id", "reason"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        _timestamp("created_at"),
        _timestamp("sent_at", nullable=True),
        sa.Column("attempts", sa.SmallInteger, nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_outbox_unsent", "outbox", ["id"], postgresql_where=sa.text("sent_at IS NULL")
    )
    op.create_table(
        "ticket_callbacks",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column(
            "ticket_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("tickets.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _timestamp("created_at"),
        _timestamp("due_at"),
        sa.Column("status", sa.String(12), nullable=False, server_default="open"),
        sa.Column("rating", sa.String(8)),
        sa.Column("notes", sa.Text),
        sa.Column("done_by", sa.String(64)),
        _timestamp("done_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'done', 'cancelled')", name="ck_ticket_callbacks_status"
        ),
        sa.CheckConstraint(
            "rating IS NULL OR rating IN ('满意', '基本满意', '不满意')",
            name="ck_ticket_callbacks_rating",
        ),
    )
    op.create_index(
        "ux_ticket_callbacks_open",
        "ticket_callbacks",
        ["ticket_id"],
        unique=True,
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_ticket_callbacks_status_due", "ticket_callbacks", ["status", "due_at"])

    op.add_column(
        "voicemails",
        sa.Column("ticket_id", postgresql.UUID(as_uuid=True), sa.ForeignKey("tickets.id")),
    )
    _backfill()


# The search terms as callcenter/tickets/textsearch.py made them when this revision
# was written, frozen here: a migration must mean the same thing whatever the
# live code becomes (and must not import it).
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[0-9a-z]+")


def _terms(text: str) -> list[str]:
    """Chinese bigrams (a lone character stays whole) and Latin words or numbers."""
    text = text.lower()
    found: dict[str, None] = {}
    for run in _HAN.findall(text):
        if len(run) == 1:
            found[run] = None
        for i in range(len(run) - 1):
            found[run[i : i + 2]] = None
    for word in _WORD.findall(text):
        found[word] = None
    return list(found)


def _backfill() -> None:
    """Tickets from before this revision: searchable, and waiting for their callback."""
    bind = op.get_bind()
    fill = sa.text(
        "UPDATE tickets SET search_vector = array_to_tsvector(:terms) WHERE id = :id"
    ).bindparams(sa.bindparam("terms", type_=postgresql.ARRAY(sa.Text)))
    rows = bind.execute(sa.text("SELECT id, subject, content FROM tickets")).all()
    for ticket_id, subject, content in rows:
        bind.execute(fill, {"id": ticket_id, "terms": _terms(f"{subject} {content}")})
    op.execute("""
        INSERT INTO ticket_callbacks (ticket_id, created_at, due_at, status)
        SELECT id, now(), coalesce(due_at, now() + interval '2 days'), 'open'
        FROM tickets WHERE status = 'awaiting_callback'
    """)
    op.execute("""
        UPDATE tickets SET due_at = now() + interval '2 days', stage_started_at = now()
        WHERE status = 'awaiting_callback' AND due_at IS NULL
    """)


def downgrade() -> None:
    op.drop_column("voicemails", "ticket_id")
    op.drop_table("ticket_callbacks")
    op.drop_table("outbox")
    op.drop_table("supervisions")
    for column in ("accepted_at", "extension_reason", "extension_requested", "extension_days"):
        op.drop_column("dispatches", column)
    op.drop_index("ix_dispatches_returned", table_name="dispatches")
    op.drop_index("ix_ticket_events_link_call", table_name="ticket_events")
    for index in (
        "ix_tickets_flagged",
        "ix_tickets_category_code",
        "ix_tickets_address",
        "ix_tickets_merged_into",
        "ix_tickets_created_at",
        "ix_tickets_search",
    ):
        op.drop_index(index, table_name="tickets")
    op.drop_constraint("fk_tickets_kb_entry", "tickets")
    op.drop_constraint("fk_tickets_category", "tickets")
    for column in ("search_vector", "flags", "kb_entry_id", "stage_started_at"):
        op.drop_column("tickets", column)
    op.drop_table("kb_entries")
    op.drop_table("categories")
    op.drop_column("departments", "active")
