"""The work order's closed loop as an explicit state machine.

受理 → 调度 (dispatch) → 办理 (accept, handle) → 回复 (reply) → 审核 (review)
→ 回访 (callback) → 办结 (closed); with 派单异议 (object) reviewed by the centre
into 改派 (re-dispatch) or 退单 (return), 不满意 reopening under supervision,
并单 (merge), 呈报/批示 (escalate to a leader, the leader's instruction), manual
督办 flags and 延期 (an extension the department asks for and the centre
approves). Who may do what is part of the table.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from callcenter.errors import CallCenterError
from callcenter.users.roles import CENTRE, CENTRE_LEAD, DEPARTMENT, Role


class TicketStatus(enum.StrEnum):
    REGISTERED = "registered"  # 已受理: with the centre, not dispatched
    DISPATCHED = "dispatched"  # 已派单: waiting for the department to accept
    OBJECTED = "objected"  # 派单异议: the department objects; the centre reviews
    ACCEPTED = "accepted"  # 办理中
    REPLIED = "replied"  # 已答复: the centre reviews the department's reply
    AWAITING_CALLBACK = "awaiting_callback"  # 待回访
    CLOSED = "closed"  # 已办结
    REOPENED = "reopened"  # 重办: after a dissatisfied callback or on the centre's decision
    MERGED = "merged"  # 并单: a duplicate, folded into another ticket


class Action(enum.StrEnum):
    ANSWER = "answer"  # answered at once (knowledge base): straight to callback
    DISPATCH = "dispatch"  # 转办
    ACCEPT = "accept"
    OBJECT = "object"  # 派单异议, with a reason
    REDISPATCH = "redispatch"  # 改派
    RETURN = "return"  # 退单: back to the centre
    REPLY = "reply"  # the department's result
    APPROVE_REPLY = "approve_reply"
    REJECT_REPLY = "reject_reply"  # not good enough: back to the department
    CALLBACK_SATISFIED = "callback_satisfied"  # 满意 / 基本满意
    CALLBACK_DISSATISFIED = "callback_dissatisfied"  # 不满意: reopened, supervised
    REOPEN = "reopen"
    MERGE = "merge"  # 并单
    ESCALATE = "escalate"  # 呈报: put before a leader; the status stays
    INSTRUCT = "instruct"  # 批示: the leader's instruction; flags it for supervision
    FLAG = "flag"  # a manual supervision flag (media exposure, ...)
    REQUEST_EXTENSION = "request_extension"  # 延期申请, by the lead department
    APPROVE_EXTENSION = "approve_extension"
    REJECT_EXTENSION = "reject_extension"


# A dispatch in one of these states is history: the department no longer holds it.
ENDED_DISPATCH = ("superseded", "returned")
OPEN = frozenset(TicketStatus) - {TicketStatus.CLOSED, TicketStatus.MERGED}

S, A = TicketStatus, Action
# (status, action) → new status
TRANSITIONS: Mapping[tuple[TicketStatus, Action], TicketStatus] = {
    (S.REGISTERED, A.ANSWER): S.AWAITING_CALLBACK,
    (S.REGISTERED, A.DISPATCH): S.DISPATCHED,
    (S.REOPENED, A.DISPATCH): S.DISPATCHED,
    (S.DISPATCHED, A.ACCEPT): S.ACCEPTED,
    (S.DISPATCHED, A.OBJECT): S.OBJECTED,
    (S.OBJECTED, A.REDISPATCH): S.DISPATCHED,
    (S.OBJECTED, A.RETURN): S.REGISTERED,
    (S.ACCEPTED, A.REPLY): S.REPLIED,
    (S.REPLIED, A.APPROVE_REPLY): S.AWAITING_CALLBACK,
    (S.REPLIED, A.REJECT_REPLY): S.ACCEPTED,
    (S.AWAITING_CALLBACK, A.CALLBACK_SATISFIED): S.CLOSED,
    (S.AWAITING_CALLBACK, A.CALLBACK_DISSATISFIED): S.REOPENED,
    (S.CLOSED, A.REOPEN): S.REOPENED,
    **{(status, A.MERGE): S.MERGED for status in OPEN},
    **{(status, A.ESCALATE): status for status in OPEN},
    **{(status, A.INSTRUCT): status for status in OPEN},
    **{(status, A.FLAG): status for status in OPEN},
    (S.ACCEPTED, A.REQUEST_EXTENSION): S.ACCEPTED,
    (S.ACCEPTED, A.APPROVE_EXTENSION): S.ACCEPTED,
    (S.ACCEPTED, A.REJECT_EXTENSION): S.ACCEPTED,
}

WHO: Mapping[Action, frozenset[Role]] = {
    A.ANSWER: CENTRE,
    A.DISPATCH: CENTRE,
    A.ACCEPT: DEPARTMENT,
    A.OBJECT: DEPARTMENT,
    A.REDISPATCH: CENTRE_LEAD,
    A.RETURN: CENTRE_LEAD,
    A.REPLY: DEPARTMENT,
    A.APPROVE_REPLY: CENTRE,
    A.REJECT_REPLY: CENTRE,
    A.CALLBACK_SATISFIED: CENTRE,
    A.CALLBACK_DISSATISFIED: CENTRE,
    A.REOPEN: CENTRE_LEAD,
    A.MERGE: CENTRE,
    A.ESCALATE: CENTRE,
    A.INSTRUCT: CENTRE_LEAD,
    A.FLAG: CENTRE_LEAD,
    A.REQUEST_EXTENSION: DEPARTMENT,
    A.APPROVE_EXTENSION: CENTRE_LEAD,
    A.REJECT_EXTENSION: CENTRE_LEAD,
}


class TicketError(CallCenterError):
    title = "Ticket error"


class IllegalTicketTransition(TicketError):
    title = "Not possible in this ticket's state"


class NotPermitted(TicketError):
    title = "Not permitted for this role"


def allowed_actions(status: TicketStatus, role: Role | None = None) -> list[Action]:
    """What can be done now (by ``role``): what the agent desktop offers."""
    return [
        action
        for (st, action) in TRANSITIONS
        if st is status and (role is None or role in WHO[action])
    ]


def apply(status: TicketStatus, action: Action, role: Role) -> TicketStatus:
    """The status after ``action``; raises with the reason (and what is possible) if not."""
    if role not in WHO[action]:
        allowed = ", ".join(sorted(r.value for r in WHO[action]))
        raise NotPermitted(f"{role.value} may not {action.value} a ticket (only {allowed})")
    new = TRANSITIONS.get((status, action))
    if new is None:
        possible = ", ".join(a.value for a in allowed_actions(status, role)) or "nothing"
        raise IllegalTicketTransition(
            f"cannot {action.value} a {status.value} ticket; possible now: {possible}"
        )
    return new
