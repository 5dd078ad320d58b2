"""Who acts: a user's role, the groups of roles the rules name, and the actor.

The roles are the users' (an account has one); tickets, calls and the access
log decide what each may do from them, so they live here, not in one of those.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    DEPARTMENT = "department"
    AUDITOR = "auditor"
    OPS = "ops"
    ADMIN = "admin"


# The hotline centre's staff: they take calls and register, dispatch and review tickets.
CENTRE = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
# The centre's leads: they decide what the staff may not (re-dispatch, reopen, ...).
CENTRE_LEAD = frozenset({Role.SUPERVISOR, Role.ADMIN})
# The departments (承办单位) that handle dispatched tickets.
DEPARTMENT = frozenset({Role.DEPARTMENT})


@dataclass(frozen=True, slots=True)
class Actor:
    """A logged-in user as the services see them: the name the records keep."""

    name: str
    role: Role
    department: str | None = None  # for department users: their 承办单位
