from __future__ import annotations

import itertools

import pytest

from callcenter.calls.state import CallState, IllegalTransition, check_transition
from callcenter.errors import CallCenterError

S = CallState
LEGAL = {
    (S.NEW, S.ANSWERED),
    (S.NEW, S.HANGING_UP),
    (S.NEW, S.ENDED),
    (S.ANSWERED, S.HANGING_UP),
    (S.ANSWERED, S.ENDED),
    (S.HANGING_UP, S.ENDED),
}
ILLEGAL = sorted(set(itertools.product(S, S)) - LEGAL, key=lambda p: (p[0].value, p[1].value))


@pytest.mark.parametrize(
    ("current", "new"), sorted(LEGAL, key=lambda p: (p[0].value, p[1].value)), ids=lambda s: s.value
)
def test_legal_transition_returns_new_state(current, new):
    assert check_transition(current, new) is new


@pytest.mark.parametrize(("current", "new"), ILLEGAL, ids=lambda s: s.value)
def test_illegal_transition_raises(current, new):
    with pytest.raises(IllegalTransition) as info:
        check_transition(current, new)
    assert str(info.value) == f"call cannot go from {current.value} to {new.value}"


def test_every_pair_is_covered():
    assert len(LEGAL) + len(ILLEGAL) == len(S) ** 2 == 16


def test_illegal_transition_is_a_call_centre_error():
    with pytest.raises(CallCenterError):
        check_transition(S.ENDED, S.NEW)
