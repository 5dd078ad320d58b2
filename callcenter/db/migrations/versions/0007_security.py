"""Security: an append-only access log of personal-data reads; users can be
disabled and carry their own seat (supervisors listen on it)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The database itself refuses to change or remove what was logged (PIPL; 保密制度),
# whatever the code above it does.
APPEND_ONLY = (
    """CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'access_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$""",
    """CREATE TRIGGER access_log_no_change BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only()""",
    """CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only()""",
)


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("client_addr", sa.String(64)),
        # what was read: ticket, call, recording, access_log, user
        sa.Column("subject", sa.String(16), nullable=False),
        sa.Column("subject_id", sa.String(128)),
        # read, list, search, export, play, download, listen
        sa.Column("action", sa.String(16), nullable=False),
        # the route, ids shown and how many unmasked, filters, row count, byte range, …
        sa.Column("detail", postgresql.JSONB, nullable=False, server_default="{}"),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_access_log_at", "access_log", ["at"])
    op.create_index("ix_access_log_actor_at", "access_log", ["actor", "at"])
    op.create_index("ix_access_log_subject", "access_log", ["subject", "subject_id"])
    # "Who saw this ticket" also finds the lists and searches that showed it (detail.ids).
    op.create_index(
        "ix_access_log_detail",
        "access_log",
        ["detail"],
        postgresql_using="gin",
        postgresql_ops={"detail": "jsonb_path_ops"},
    )
    for statement in APPEND_ONLY:
        op.execute(statement)
    op.add_column("users", sa.Column("disabled_at", sa.DateTime(timezone=True)))
    op.add_column("users", sa.Column("seat", sa.String(32)))


def downgrade() -> None:
    op.drop_column("users", "seat")
    op.drop_column("users", "disabled_at")
    op.drop_table("access_log")
    op.execute("DROP FUNCTION access_log_append_only()")
