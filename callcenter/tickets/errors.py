"""What a ticket request can be refused with (the workflow's own refusals,
``NotPermitted`` and ``IllegalTicketTransition``, are in :mod:`.workflow`)."""

from __future__ import annotations

from callcenter.tickets.workflow import TicketError


class TicketNotFound(TicketError):
    title = "No such ticket"


class TicketInvalid(TicketError):
    title = "Invalid ticket request"


class TicketChanged(TicketError):
    title = "The ticket changed meanwhile"
