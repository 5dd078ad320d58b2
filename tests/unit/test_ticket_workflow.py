"""The work order's closed loop: every transition, legal and illegal, and who may."""

from __future__ import annotations

import itertools

import pytest

from callcenter.tickets.workflow import (
    OPEN,
    TRANSITIONS,
    WHO,
    Action,
    IllegalTicketTransition,
    NotPermitted,
    TicketStatus,
    allowed_actions,
    apply,
)
from callcenter.users.roles import Role

S, A, R = TicketStatus, Action, Role


def run(*steps: tuple[Action, Role]) -> TicketStatus:
    status = S.REGISTERED
    for action, role in steps:
        status = apply(status, action, role)
    return status


def test_the_whole_loop_from_intake_to_closed():
    assert (
        run(
            (A.DISPATCH, R.AGENT),
            (A.ACCEPT, R.DEPARTMENT),
            (A.REPLY, R.DEPARTMENT),
            (A.APPROVE_REPLY, R.AGENT),
            (A.CALLBACK_SATISFIED, R.AGENT),
        )
        is S.CLOSED
    )


def test_an_objection_is_reviewed_into_a_redispatch_or_a_return():
    objected = run((A.DISPATCH, R.AGENT), (A.OBJECT, R.DEPARTMENT))
    assert objected is S.OBJECTED
    assert apply(objected, A.REDISPATCH, R.SUPERVISOR) is S.DISPATCHED
    assert apply(objected, A.RETURN, R.SUPERVISOR) is S.REGISTERED


def test_a_dissatisfied_callback_reopens_and_it_can_be_dispatched_again():
    waiting = run((A.ANSWER, R.AGENT))
    assert waiting is S.AWAITING_CALLBACK
    reopened = apply(waiting, A.CALLBACK_DISSATISFIED, R.AGENT)
    assert reopened is S.REOPENED
    assert apply(reopened, A.DISPATCH, R.AGENT) is S.DISPATCHED


def test_a_rejected_reply_goes_back_to_the_department():
    replied = run((A.DISPATCH, R.AGENT), (A.ACCEPT, R.DEPARTMENT), (A.REPLY, R.DEPARTMENT))
    assert apply(replied, A.REJECT_REPLY, R.SUPERVISOR) is S.ACCEPTED


def test_escalation_keeps_the_status_and_merging_ends_any_open_ticket():
    for status in OPEN:
        assert apply(status, A.ESCALATE, R.SUPERVISOR) is status
        assert apply(status, A.MERGE, R.AGENT) is S.MERGED


def test_closed_tickets_can_only_be_reopened_by_the_centre_lead():
    assert allowed_actions(S.CLOSED) == [A.REOPEN]
    assert apply(S.CLOSED, A.REOPEN, R.SUPERVISOR) is S.REOPENED
    with pytest.raises(NotPermitted, match="agent may not reopen a ticket"):
        apply(S.CLOSED, A.REOPEN, R.AGENT)


@pytest.mark.parametrize(("status", "action"), list(itertools.product(S, A)))
def test_every_pair_is_either_in_the_table_or_refused_with_what_is_possible(status, action):
    role = sorted(WHO[action])[0]  # someone who may do it at all
    if (status, action) in TRANSITIONS:
        assert apply(status, action, role) is TRANSITIONS[(status, action)]
    else:
        with pytest.raises(
            IllegalTicketTransition, match=f"cannot {action.value} a {status.value} ticket"
        ):
            apply(status, action, role)


@pytest.mark.parametrize(("action", "role"), list(itertools.product(A, R)))
def test_roles_outside_the_table_are_refused(action, role):
    statuses = [s for (s, a) in TRANSITIONS if a is action]
    if role in WHO[action]:
        apply(statuses[0], action, role)
    else:
        with pytest.raises(NotPermitted):
            apply(statuses[0], action, role)


def test_departments_only_accept_object_reply_and_ask_for_more_time():
    department_actions = {a for a in A if R.DEPARTMENT in WHO[a]}
    assert department_actions == {A.ACCEPT, A.OBJECT, A.REPLY, A.REQUEST_EXTENSION}
    assert allowed_actions(S.DISPATCHED, R.DEPARTMENT) == [A.ACCEPT, A.OBJECT]
    assert allowed_actions(S.ACCEPTED, R.DEPARTMENT) == [A.REPLY, A.REQUEST_EXTENSION]


def test_an_extension_is_asked_by_the_department_and_decided_by_the_centre():
    accepted = run((A.DISPATCH, R.AGENT), (A.ACCEPT, R.DEPARTMENT))
    assert apply(accepted, A.REQUEST_EXTENSION, R.DEPARTMENT) is S.ACCEPTED
    assert apply(accepted, A.APPROVE_EXTENSION, R.SUPERVISOR) is S.ACCEPTED
    with pytest.raises(NotPermitted):
        apply(accepted, A.APPROVE_EXTENSION, R.DEPARTMENT)  # not its own approval
    with pytest.raises(NotPermitted):
        apply(accepted, A.APPROVE_EXTENSION, R.AGENT)
    with pytest.raises(IllegalTicketTransition):
        apply(S.DISPATCHED, A.REQUEST_EXTENSION, R.DEPARTMENT)  # accept it first


def test_a_leader_instruction_or_a_flag_keeps_the_status_and_only_leads_give_them():
    for status in OPEN:
        assert apply(status, A.INSTRUCT, R.SUPERVISOR) is status
        assert apply(status, A.FLAG, R.ADMIN) is status
    with pytest.raises(NotPermitted):
        apply(S.ACCEPTED, A.INSTRUCT, R.AGENT)
    with pytest.raises(IllegalTicketTransition):
        apply(S.CLOSED, A.FLAG, R.SUPERVISOR)


def test_auditors_and_ops_change_nothing():
    for action in A:
        assert R.AUDITOR not in WHO[action] and R.OPS not in WHO[action]


def test_the_refusal_names_what_can_be_done_instead():
    with pytest.raises(IllegalTicketTransition) as info:
        apply(S.REGISTERED, A.REPLY, R.DEPARTMENT)
    assert "possible now: nothing" in str(info.value)
    with pytest.raises(IllegalTicketTransition) as info:
        apply(S.REGISTERED, A.APPROVE_REPLY, R.AGENT)
    assert "possible now: answer, dispatch, merge, escalate" in str(info.value)
