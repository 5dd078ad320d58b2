"""How a ticket looks to the user asking: personal data masked by role.

Personal data is shown only to the centre's roles that need it, and never
for a confidential ticket except to supervisors and admins. The API, the
exports and the duplicate list all use this one view.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from callcenter.db.models import Dispatch, Ticket
from callcenter.tickets.deadlines import DeadlineConfig, colour
from callcenter.tickets.service import Actor
from callcenter.tickets.workflow import Role, TicketStatus, allowed_actions

SEES_PERSONAL_DATA = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
SEES_CONFIDENTIAL = frozenset({Role.SUPERVISOR, Role.ADMIN})


def _mask(value: str, keep: int = 1) -> str:
    return value[:keep] + "*" * max(0, len(value) - keep) if value else value


def mask_phone(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else _mask(phone, 0)


def sees_personal_data(who: Actor, ticket: Ticket) -> bool:
    return who.role in SEES_PERSONAL_DATA and (
        not ticket.confidential or who.role in SEES_CONFIDENTIAL
    )


def dispatch_view(dispatch: Dispatch, deadlines: DeadlineConfig, now: datetime) -> dict[str, Any]:
    """A dispatch with its own deadline colour while the department holds it."""
    due = {"dispatched": dispatch.accept_due, "accepted": dispatch.handle_due}.get(dispatch.state)
    return {
        "department": dispatch.department_code,
        "role": dispatch.role,
        "state": dispatch.state,
        "dispatched_at": dispatch.dispatched_at.isoformat(),
        "accept_due": dispatch.accept_due.isoformat(),
        "handle_due": dispatch.handle_due.isoformat() if dispatch.handle_due else None,
        "colour": colour(deadlines, dispatch.dispatched_at, due, now).value if due else None,
        "extension_days": dispatch.extension_days,
        "extension_requested": dispatch.extension_requested,
    }


def ticket_view(
    ticket: Ticket, who: Actor, deadlines: DeadlineConfig, now: datetime
) -> dict[str, Any]:
    personal = sees_personal_data(who, ticket)
    due = ticket.due_at
    started = ticket.stage_started_at or ticket.created_at
    return {
        "id": str(ticket.id),
        "query_code": ticket.query_code,
        "channel": ticket.channel,
        "nature": ticket.nature,
        "category_code": ticket.category_code,
        "subject": ticket.subject,
        "content": ticket.content,
        "caller_name": ticket.caller_name if personal else _mask(ticket.caller_name),
        "caller_phone": ticket.caller_phone if personal else mask_phone(ticket.caller_phone),
        "address": ticket.address if personal else _mask(ticket.address, 2),
        "district": ticket.district,
        "confidential": ticket.confidential,
        "priority": ticket.priority,
        "status": ticket.status,
        "version": ticket.version,
        "due_at": due.isoformat() if due else None,
        "colour": colour(deadlines, started, due, now).value if due else None,
        "flags": list(ticket.flags or ()),
        "kb_entry_id": ticket.kb_entry_id,
        "merged_into": str(ticket.merged_into) if ticket.merged_into else None,
        "actions": [a.value for a in allowed_actions(TicketStatus(ticket.status), who.role)],
        "created_at": ticket.created_at.isoformat(),
        "updated_at": ticket.updated_at.isoformat(),
    }
