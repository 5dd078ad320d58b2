"""The agent state machine: which changes are legal and what each change records."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from callcenter.acd.agents import (
    REQUESTABLE,
    AcdError,
    Agent,
    AgentState,
    IllegalAgentTransition,
    UnknownAgent,
)
from callcenter.errors import CallCenterError

from .acd_support import T0, agent

S = AgentState

# Written out from the issue (logged out → available → ringing → on call → wrap-up →
# available; paused with a reason; ring-no-answer pauses; a cancelled ring frees).
LEGAL = {
    (S.LOGGED_OUT, S.AVAILABLE),
    (S.LOGGED_OUT, S.PAUSED),
    (S.AVAILABLE, S.RINGING),
    (S.AVAILABLE, S.PAUSED),
    (S.AVAILABLE, S.LOGGED_OUT),
    (S.RINGING, S.ON_CALL),
    (S.RINGING, S.PAUSED),
    (S.RINGING, S.AVAILABLE),
    (S.RINGING, S.LOGGED_OUT),
    (S.ON_CALL, S.WRAP_UP),
    (S.WRAP_UP, S.AVAILABLE),
    (S.WRAP_UP, S.PAUSED),
    (S.WRAP_UP, S.LOGGED_OUT),
    (S.PAUSED, S.AVAILABLE),
    (S.PAUSED, S.LOGGED_OUT),
}
CHANGES = [(a, b) for a, b in itertools.product(AgentState, AgentState) if a is not b]
AT = T0 + timedelta(minutes=5)


def test_states_have_their_wire_values():
    assert {s.value for s in AgentState} == {
        "logged_out",
        "available",
        "ringing",
        "on_call",
        "wrap_up",
        "paused",
    }


def test_requestable_states_are_the_ones_an_agent_may_ask_for():
    assert frozenset({S.AVAILABLE, S.PAUSED, S.LOGGED_OUT}) == REQUESTABLE


def test_errors_belong_to_the_service_error_tree():
    assert issubclass(IllegalAgentTransition, AcdError)
    assert issubclass(UnknownAgent, AcdError)
    assert issubclass(AcdError, CallCenterError)


def test_a_new_agent_is_logged_out_unregistered_and_free():
    a = Agent("1001", agent().config)
    assert a.state is S.LOGGED_OUT
    assert (a.reason, a.since, a.idle_since, a.call_id) == (None, None, None, None)
    assert a.registered is False
    assert a.calls_answered == 0
    assert not a.can_take_calls()


@pytest.mark.parametrize(("old", "new"), [c for c in CHANGES if c in LEGAL], ids=str)
def test_legal_change(old: AgentState, new: AgentState):
    a = agent(state=old)
    a.move(new, AT, "why")
    assert a.state is new
    assert a.since == AT
    assert a.reason == "why"


@pytest.mark.parametrize(("old", "new"), [c for c in CHANGES if c not in LEGAL], ids=str)
def test_illegal_change_is_refused_and_changes_nothing(old: AgentState, new: AgentState):
    a = agent(state=old)
    a.call_id = "call-1"
    before = (a.state, a.reason, a.since, a.idle_since, a.call_id)
    with pytest.raises(IllegalAgentTransition, match=f"from {old.value} to {new.value}"):
        a.move(new, AT)
    assert (a.state, a.reason, a.since, a.idle_since, a.call_id) == before


def test_every_state_can_be_reached_and_left():
    reached = {new for _, new in LEGAL}
    left = {old for old, _ in LEGAL}
    assert reached == left == set(AgentState)


@pytest.mark.parametrize("state", list(AgentState), ids=lambda s: s.value)
def test_moving_to_the_same_state_is_allowed_and_restamps(state: AgentState):
    a = agent(state=state)
    a.move(state, AT, "again")
    assert (a.state, a.since, a.reason) == (state, AT, "again")


def test_the_happy_path_round_trip():
    a = agent(state=S.LOGGED_OUT, idle_since=None)
    steps = [S.AVAILABLE, S.RINGING, S.ON_CALL, S.WRAP_UP, S.AVAILABLE, S.PAUSED, S.LOGGED_OUT]
    for i, state in enumerate(steps):
        a.move(state, T0 + timedelta(seconds=i))
        assert a.state is state


@pytest.mark.parametrize("old", [S.LOGGED_OUT, S.RINGING, S.WRAP_UP, S.PAUSED])
def test_becoming_available_sets_idle_since(old: AgentState):
    a = agent(state=old, idle_since=T0)
    a.move(S.AVAILABLE, AT)
    assert a.idle_since == AT


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.AVAILABLE, S.RINGING),
        (S.RINGING, S.ON_CALL),
        (S.ON_CALL, S.WRAP_UP),
        (S.AVAILABLE, S.PAUSED),
        (S.WRAP_UP, S.LOGGED_OUT),
        (S.RINGING, S.PAUSED),
    ],
)
def test_other_changes_keep_idle_since(old: AgentState, new: AgentState):
    a = agent(state=old, idle_since=T0)
    a.move(new, AT)
    assert a.idle_since == T0


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (S.RINGING, S.AVAILABLE),
        (S.RINGING, S.PAUSED),
        (S.RINGING, S.LOGGED_OUT),
        (S.WRAP_UP, S.AVAILABLE),
        (S.WRAP_UP, S.PAUSED),
        (S.WRAP_UP, S.LOGGED_OUT),
    ],
)
def test_call_id_is_cleared_when_the_agent_is_free_paused_or_gone(old, new):
    a = agent(state=old)
    a.call_id = "call-1"
    a.move(new, AT)
    assert a.call_id is None


@pytest.mark.parametrize(("old", "new"), [(S.AVAILABLE, S.RINGING), (S.RINGING, S.ON_CALL)])
def test_call_id_is_kept_while_ringing_and_talking(old: AgentState, new: AgentState):
    a = agent(state=old)
    a.call_id = "call-1"
    a.move(new, AT)
    assert a.call_id == "call-1"


def test_the_reason_is_replaced_by_the_next_change():
    a = agent(state=S.AVAILABLE)
    a.move(S.PAUSED, AT, "break")
    assert a.reason == "break"
    a.move(S.AVAILABLE, AT)
    assert a.reason is None


@pytest.mark.parametrize(
    ("state", "registered", "can"),
    [
        (S.AVAILABLE, True, True),
        (S.AVAILABLE, False, False),
        *[(s, True, False) for s in AgentState if s is not S.AVAILABLE],
    ],
)
def test_can_take_calls_only_when_available_and_registered(state, registered, can):
    assert agent(state=state, registered=registered).can_take_calls() is can
