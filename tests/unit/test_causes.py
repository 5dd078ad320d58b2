from __future__ import annotations

import pytest

from callcenter.ari.causes import NORMAL_CLEARING, cause_text


@pytest.mark.parametrize(
    ("cause", "text"),
    [
        (16, "Normal Clearing"),
        (17, "User busy"),
        (19, "No answer"),
        (21, "Call rejected"),
        (0, "Unknown"),
        (127, "Interworking, unspecified"),
    ],
)
def test_known_causes(cause, text):
    assert cause_text(cause) == text


def test_unknown_cause_names_its_number():
    assert cause_text(102) == "Cause 102"


def test_no_cause_is_none():
    assert cause_text(None) is None


def test_normal_clearing_constant():
    assert cause_text(NORMAL_CLEARING) == "Normal Clearing"
