"""SQLAlchemy 2 models. The schema itself is created only by migrations."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Disposition(enum.StrEnum):
    """How a call ended, from the hotline's point of view."""

    COMPLETED = "completed"  # the service finished with the caller and hung up
    ABANDONED = "abandoned"  # the caller hung up before the service was done
    OVERFLOW = "overflow"  # handed back to the dialplan (service draining or unable)
    SHUTDOWN = "shutdown"  # hung up by the service when its shutdown grace ran out
    FAILED = "failed"  # an error in the service ended the call
    LOST = "lost"  # Asterisk ended or lost the channel (restart, shutdown)
    TRANSFERRED = "transferred"  # connected to a department number; ended from there
    ANSWERED = "answered"  # talked to an agent
    CALLBACK = "callback"  # asked to be called back instead of waiting


class Call(Base):
    """One row per channel that entered Stasis: the call record."""

    __tablename__ = "calls"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(64), unique=True)  # Asterisk uniqueid
    linkedid: Mapped[str] = mapped_column(String(64), index=True)
    channel_name: Mapped[str] = mapped_column(String(128), default="")
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(128), default="")
    dialled_number: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    hangup_cause: Mapped[int | None] = mapped_column(Integer)
    hangup_cause_text: Mapped[str | None] = mapped_column(String(64))
    disposition: Mapped[Disposition | None] = mapped_column(
        Enum(
            Disposition,
            name="call_disposition",
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # Where the call was (e.g. "welcome") when it ended: where callers leave.
    last_stage: Mapped[str | None] = mapped_column(String(64))
    # The IVR flow that answered, and the flow set's content hash it ran on.
    flow: Mapped[str | None] = mapped_column(String(64))
    flow_version: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", order_by="CallEvent.id", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_calls_caller_number_started_at", "caller_number", "started_at"),
        Index("ix_calls_open", "ended_at", postgresql_where="ended_at IS NULL"),
    )


class CallEvent(Base):
    """The call's timeline, append-only."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    # The writer's operation id (migration 0008): a replayed operation lands once.
    op_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)

    call: Mapped[Call] = relationship(back_populates="events")


class Recording(Base):
    """An audio file in Asterisk's recording spool (``recordings/`` here)."""

    __tablename__ = "recordings"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255), unique=True)
    format: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    agent_id: Mapped[str | None] = mapped_column(String(64))


class Voicemail(Base):
    """A message left in the IVR: a ticket stub until the tickets issue takes it over."""

    __tablename__ = "voicemails"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    recording_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("recordings.id"))
    caller_number: Mapped[str] = mapped_column(String(64))
    flow: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), server_default="new")
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id"))


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(SmallInteger)
    flow: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The writer's operation id (migration 0008): a replayed operation lands once.
    op_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)


class QueueRequest(Base):
    """A caller asked for a queue (kept until queues and agents land)."""

    __tablename__ = "queue_requests"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(SmallInteger)
    skills: Mapped[list[str]] = mapped_column(JSONB)
    flow: Mapped[str] = mapped_column(String(64))
    node: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The writer's operation id (migration 0008): a replayed operation lands once.
    op_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)


class QueueCall(Base):
    """One stay in a queue: waited, answered (by whom, how long) or not."""

    __tablename__ = "queue_calls"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(SmallInteger)
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    left_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    wait_seconds: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(String(32))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    talk_seconds: Mapped[float | None] = mapped_column(Float)
    wrapup_seconds: Mapped[float | None] = mapped_column(Float)
    transferred_to: Mapped[str | None] = mapped_column(String(64))
    recording_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("recordings.id"))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)


class CallbackTask(Base):
    """A caller to call back (漏话回拨): abandoned in the queue, or asked for it."""

    __tablename__ = "callback_tasks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    call_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    caller_number: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(16))
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="open")
    # The writer's operation id (migration 0008): a replayed operation lands once.
    op_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)


class AgentStateLog(Base):
    __tablename__ = "agent_state_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    agent_id: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    call_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The writer's operation id (migration 0008): a replayed operation lands once.
    op_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), unique=True)


class Department(Base):
    """承办单位, a tree; ``districts`` it serves for 属地优先."""

    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    districts: Mapped[list[str]] = mapped_column(JSONB, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Category(Base):
    """The category catalogue (multi-level, with codes), kept in step with config/."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    departments: Mapped[list[str]] = mapped_column(JSONB, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class KbEntry(Base):
    """知识库: a question with its answer, valid for a period, searchable in Chinese."""

    __tablename__ = "kb_entries"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    tags: Mapped[list[str]] = mapped_column(JSONB, default=list)
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    search_vector: Mapped[Any] = mapped_column(TSVECTOR)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)


class Ticket(Base):
    """A work order (工单)."""

    __tablename__ = "tickets"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    query_code: Mapped[str] = mapped_column(String(16), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    nature: Mapped[str] = mapped_column(String(16))
    category_code: Mapped[str | None] = mapped_column(ForeignKey("categories.code"))
    subject: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(Text)
    caller_name: Mapped[str] = mapped_column(String(64), default="")
    caller_phone: Mapped[str] = mapped_column(String(32), default="")
    address: Mapped[str] = mapped_column(String(256), default="")
    district: Mapped[str] = mapped_column(String(64), default="")
    confidential: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(SmallInteger, default=0)
    status: Mapped[str] = mapped_column(String(24))
    merged_into: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the current stage began: the colour is the share of its time left.
    stage_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, default=1)
    kb_entry_id: Mapped[int | None] = mapped_column(ForeignKey("kb_entries.id"))
    flags: Mapped[list[str]] = mapped_column(JSONB, default=list)  # leader, media, ...
    search_vector: Mapped[Any] = mapped_column(TSVECTOR, nullable=True)


class Dispatch(Base):
    """A ticket sent to a department: the lead (主办) or a co-handler (协办)."""

    __tablename__ = "dispatches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    role: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    dispatched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accept_due: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    handle_due: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    extension_days: Mapped[int] = mapped_column(SmallInteger, default=0)  # approved
    extension_requested: Mapped[int | None] = mapped_column(SmallInteger)  # awaiting approval
    extension_reason: Mapped[str | None] = mapped_column(Text)


class TicketCall(Base):
    """Calls and tickets are many-to-many: one citizen may call three times about one matter."""

    __tablename__ = "ticket_calls"

    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True
    )
    call_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True
    )


class TicketEvent(Base):
    """The append-only audit trail: who did what, when, before and after."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class Supervision(Base):
    """督办: a ticket under supervision for one reason, until the reason is gone."""

    __tablename__ = "supervisions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Outbox(Base):
    """Notifications to send (an SMS gateway adapter reads the unsent ones)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)


class TicketCallback(Base):
    """回访: the centre calls the citizen back once a ticket is handled."""

    __tablename__ = "ticket_callbacks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(12), default="open")
    rating: Mapped[str | None] = mapped_column(String(8))
    notes: Mapped[str | None] = mapped_column(Text)
    done_by: Mapped[str | None] = mapped_column(String(64))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class User(Base):
    __tablename__ = "users"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # A disabled user's tokens are gone and no new one is issued.
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The seat (agent id in agents/roster.yaml) a supervisor listens, whispers and barges from.
    seat: Mapped[str | None] = mapped_column(String(32))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(ForeignKey("users.name", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AccessLog(Base):
    """Who read which personal data, when, from where and why. Append-only: the
    database refuses UPDATE, DELETE and TRUNCATE (migration 0007)."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    client_addr: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    reason: Mapped[str | None] = mapped_column(Text)
