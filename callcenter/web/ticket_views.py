"""How a ticket looks to the user asking: personal data masked by role.

Personal data is shown only to the centre's roles that need it, and never
for a confidential ticket except to supervisors and admins. The API, the
exports and the duplicate list all use this one view.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from callcenter.db.models import Dispatch, Ticket, TicketEvent
from callcenter.tickets import privacy
from callcenter.tickets.deadlines import DeadlineConfig, colour
from callcenter.tickets.privacy import MASKS
from callcenter.tickets.privacy import mask_phone as mask_phone  # the one mask, for the routes
from callcenter.tickets.workflow import TicketStatus, allowed_actions
from callcenter.users.roles import Actor
from callcenter.web.keys import TICKETS


def sees_personal_data(who: Actor, ticket: Ticket) -> bool:
    return privacy.sees_personal_data(who.role, ticket.confidential)


def masked(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """``values`` with any personal field masked (audit trail before/after)."""
    if values is None:
        return None
    return {k: MASKS[k](v) if k in MASKS and isinstance(v, str) else v for k, v in values.items()}


def event_view(event: TicketEvent, personal: bool) -> dict[str, Any]:
    hide = (lambda values: values) if personal else masked
    return {
        "at": event.at.isoformat(),
        "actor": event.actor,
        "role": event.role,
        "action": event.action,
        "before": hide(event.before),
        "after": hide(event.after),
        "detail": hide(event.detail),
    }


def dispatch_view(dispatch: Dispatch, deadlines: DeadlineConfig, now: datetime) -> dict[str, Any]:
    """A dispatch with its own deadline colour while the department holds it."""
    due, started = {
        "dispatched": (dispatch.accept_due, dispatch.dispatched_at),
        "accepted": (dispatch.handle_due, dispatch.accepted_at or dispatch.dispatched_at),
    }.get(dispatch.state, (None, dispatch.dispatched_at))
    return {
        "department": dispatch.department_code,
        "role": dispatch.role,
        "state": dispatch.state,
        "dispatched_at": dispatch.dispatched_at.isoformat(),
        "accepted_at": dispatch.accepted_at.isoformat() if dispatch.accepted_at else None,
        "accept_due": dispatch.accept_due.isoformat(),
        "handle_due": dispatch.handle_due.isoformat() if dispatch.handle_due else None,
        "colour": colour(deadlines, started, due, now).value if due else None,
        "extension_days": dispatch.extension_days,
        "extension_requested": dispatch.extension_requested,
    }


def view(request: web.Request, ticket: Ticket, who: Actor) -> dict[str, Any]:
    """``ticket_view`` with the service's deadlines and clock."""
    service = request.app[TICKETS]
    return ticket_view(ticket, who, service.deadlines, service.clock())


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
        **{
            key: getattr(ticket, key) if personal else MASKS[key](getattr(ticket, key))
            for key in privacy.PERSONAL_FIELDS
        },
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
