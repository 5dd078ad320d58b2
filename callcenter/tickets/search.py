"""Finding tickets: combined filters, paging and sorting, as one SQL query.

Filters combine with AND. The colour is computed in SQL from the stage's
start and deadline (the same rule as :func:`deadlines.colour`), so "all red
complaints of the water bureau this month" is one indexed query, not a scan
in Python. A department user's search is always narrowed to its tickets.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, Exists, Select, and_, exists, func, or_, select

from callcenter.calendar import WorkCalendar
from callcenter.db.models import Dispatch, Ticket
from callcenter.tickets.deadlines import Colour, Nature
from callcenter.tickets.textsearch import to_query
from callcenter.tickets.workflow import ENDED_DISPATCH, TicketStatus

EARLIEST, LATEST = date(2000, 1, 1), date(2999, 12, 31)  # no 12345 tickets outside
# A day in that range; the pattern says the range in the API document (JSON Schema
# bounds only numbers).
Day = Annotated[date, Field(ge=EARLIEST, le=LATEST, json_schema_extra={"pattern": r"^2[0-9]{3}-"})]


class Sort(enum.StrEnum):
    NEWEST = "-created_at"
    OLDEST = "created_at"
    DUE_SOONEST = "due_at"
    DUE_LATEST = "-due_at"
    PRIORITY = "-priority"


class TicketQuery(BaseModel):
    """Every filter is optional; given ones must all hold."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: list[TicketStatus] = Field(default_factory=list)
    nature: list[Nature] = Field(default_factory=list)
    category: str | None = Field(None, max_length=32)  # this code and those under it
    department: str | None = Field(None, max_length=32)  # dispatched to (lead or co)
    district: str | None = Field(None, max_length=64)
    created_from: Day | None = None  # local days, inclusive
    created_to: Day | None = None
    caller: str | None = Field(None, max_length=64)  # phone (exact) or name (contains)
    query_code: str | None = Field(None, pattern=r"^[0-9]{1,16}$")
    colour: Colour | None = None
    text: str | None = Field(None, max_length=200)  # words in subject or content
    sort: Sort = Sort.NEWEST
    page: int = Field(1, ge=1, le=100_000)
    per_page: int = Field(50, ge=1, le=500)

    @model_validator(mode="after")
    def _dates_in_order(self) -> TicketQuery:
        if self.created_from and self.created_to and self.created_from > self.created_to:
            raise ValueError("created_from is after created_to")
        return self


def colour_condition(colour: Colour, now: datetime, yellow_share: float) -> ColumnElement[bool]:
    """SQL for "this ticket's deadline is ``colour`` now"; no deadline: no colour."""
    if colour is Colour.RED:
        return Ticket.due_at < now
    left = func.extract("epoch", Ticket.due_at - now)
    total = func.extract(
        "epoch", Ticket.due_at - func.coalesce(Ticket.stage_started_at, Ticket.created_at)
    )
    in_yellow = left < total * yellow_share
    if colour is Colour.YELLOW:
        return and_(Ticket.due_at >= now, in_yellow)
    return and_(Ticket.due_at >= now, ~in_yellow)


def build(
    query: TicketQuery,
    *,
    now: datetime,
    calendar: WorkCalendar,
    yellow_share: float,
    categories: Sequence[str] = (),
    only_department: str | None = None,
    caller_in_confidential: bool = False,
) -> Select[Ticket]:
    """The filtered, unordered select; :func:`page` orders and cuts it.

    ``categories`` is the asked category with every category under it. The
    caller of a confidential ticket is found only with ``caller_in_confidential``.
    """
    stmt = select(Ticket)
    if only_department is not None:
        stmt = stmt.where(held_by(only_department))
    if query.status:
        stmt = stmt.where(Ticket.status.in_([s.value for s in query.status]))
    if query.nature:
        stmt = stmt.where(Ticket.nature.in_([n.value for n in query.nature]))
    if query.category:
        stmt = stmt.where(Ticket.category_code.in_(list(categories) or [query.category]))
    if query.department:
        stmt = stmt.where(held_by(query.department))
    if query.district:
        stmt = stmt.where(Ticket.district == query.district)
    if query.created_from:
        stmt = stmt.where(Ticket.created_at >= _local_midnight(calendar, query.created_from))
    if query.created_to:
        stmt = stmt.where(
            Ticket.created_at < _local_midnight(calendar, query.created_to + timedelta(days=1))
        )
    if query.caller:
        stmt = stmt.where(
            or_(
                Ticket.caller_phone == query.caller,
                Ticket.caller_name.contains(query.caller, autoescape=True),
            )
        )
        if not caller_in_confidential:  # it would confirm who called in confidence
            stmt = stmt.where(Ticket.confidential.is_(False))
    if query.query_code:
        stmt = stmt.where(Ticket.query_code == query.query_code)
    if query.colour:
        stmt = stmt.where(colour_condition(query.colour, now, yellow_share))
    if query.text:
        words = to_query(query.text)
        if words is not None:
            stmt = stmt.where(Ticket.search_vector.op("@@")(words))
    return stmt


def page(stmt: Select[Ticket], query: TicketQuery) -> Select[Ticket]:
    orders: dict[Sort, tuple[ColumnElement[Any], ...]] = {
        Sort.NEWEST: (Ticket.created_at.desc(), Ticket.id.desc()),
        Sort.OLDEST: (Ticket.created_at.asc(), Ticket.id.asc()),
        Sort.DUE_SOONEST: (Ticket.due_at.asc().nulls_last(), Ticket.id.asc()),
        Sort.DUE_LATEST: (Ticket.due_at.desc().nulls_last(), Ticket.id.desc()),
        Sort.PRIORITY: (Ticket.priority.desc(), Ticket.created_at.desc(), Ticket.id.desc()),
    }
    return (
        stmt.order_by(*orders[query.sort])
        .offset((query.page - 1) * query.per_page)
        .limit(query.per_page)
    )


def held_by(department: str) -> Exists:
    """The ticket is (or was, and answered) with ``department``: not superseded or returned.

    A department that objected and saw the ticket go elsewhere stops seeing it.
    """
    return exists().where(
        Dispatch.ticket_id == Ticket.id,
        Dispatch.department_code == department,
        Dispatch.state.not_in(ENDED_DISPATCH),
    )


def _local_midnight(calendar: WorkCalendar, day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=calendar.zone)
