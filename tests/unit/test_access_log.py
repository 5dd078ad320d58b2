"""Who must say why they read personal data (the access log's reason rule)."""

from __future__ import annotations

import pytest

from callcenter.audit.access_log import Action, Reader, ReasonRequired, clean_reason
from callcenter.users.roles import Role


@pytest.mark.parametrize("action", list(Action))
def test_auditors_give_a_reason_for_every_read(action):
    with pytest.raises(ReasonRequired, match=r"^reason: required \(auditors"):
        Reader("audit-1", Role.AUDITOR, "10.0.0.7").check_reason(action)
    Reader("audit-1", Role.AUDITOR, "10.0.0.7", "投诉复核 #42").check_reason(action)


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.AUDITOR])
def test_everyone_gives_one_to_take_records_away(role):
    for action in (Action.EXPORT, Action.DOWNLOAD):
        with pytest.raises(ReasonRequired, match=f"every {action.value} needs one"):
            Reader("u", role).check_reason(action)
    for action in (Action.READ, Action.LIST, Action.SEARCH, Action.PLAY, Action.LISTEN):
        Reader("u", role).check_reason(action)  # the centre's daily work needs none


def test_a_blank_reason_is_none_and_a_long_one_is_refused():
    assert clean_reason(None) is None
    assert clean_reason("   ") is None
    assert clean_reason("  月度抽查 ") == "月度抽查"
    with pytest.raises(ReasonRequired, match="reason: at most 500"):
        clean_reason("x" * 501)
