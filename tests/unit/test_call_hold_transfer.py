"""A blind transfer of a caller on hold: the caller is taken off hold into the
bridge with the new party (the agent who put them on hold is gone, nobody else
would ever bring them back), or the transfer is refused and nothing changes."""

from __future__ import annotations

import pytest

from callcenter.ari.events import ChannelHangupRequest
from callcenter.calls.commands import Hold, Transfer, TransferDone
from callcenter.calls.conversation import ConversationError
from tests.unit.test_call_commands import AGENT_LEG, BRIDGE, CALLER, Call


def steps(call: Call) -> list[str]:
    return [k for k, _ in call.trace.steps]


@pytest.mark.parametrize("path", ["api", "softphone"])
async def test_a_blind_transfer_takes_the_caller_off_hold_to_the_new_party(path: str) -> None:
    call = Call()
    assert await call.conversation.ask(Hold(True)) is True
    assert CALLER not in call.ari.bridges[BRIDGE]  # on music, out of the bridge
    if path == "api":
        done = await call.conversation.ask(Transfer(call.to("88001234"), blind=True))
        assert done == TransferDone("88001234", [])
    else:  # the agent presses transfer on the phone while the caller is on hold
        call.ari.softphone_transfer(AGENT_LEG, "88001234")
        await call.trace.until("transferred")
    department = call.dialled_leg("transfer-")
    assert sorted(call.ari.bridges[BRIDGE]) == sorted([department, CALLER])
    assert ("stop_moh", CALLER) in call.ari.requests
    assert not call.conversation.on_hold
    assert ("hangup", AGENT_LEG) in call.ari.requests  # blind: the agent left
    assert steps(call)[-2:] == ["unhold", "transferred"]
    kinds = call.ari.kinds()
    # The caller joins only once the department is in the bridge, before the agent leaves.
    assert kinds.index("dial") < kinds.index("stop_moh") < kinds.index("hangup")
    call.ari.hang_up(CALLER)
    assert isinstance(await call.ends(), ChannelHangupRequest)
    assert call.left_behind() == (set(), set())


async def test_a_caller_who_cannot_be_taken_off_hold_is_not_transferred() -> None:
    """Asterisk refuses to put the caller back in the bridge: the transfer is
    refused in words, the department hung up, the agent and the hold as they were."""
    call = Call()
    assert await call.conversation.ask(Hold(True)) is True
    call.ari.fail("add_channel", 500, nth=2)  # the department joins, the caller cannot
    with pytest.raises(ConversationError, match="could not be taken off hold"):
        await call.conversation.ask(Transfer(call.to("88001234"), blind=True))
    department = call.dialled_leg("transfer-")
    assert ("hangup", department) in call.ari.requests
    assert ("hangup", AGENT_LEG) not in call.ari.requests
    assert call.conversation.agents == ["t1"] and call.conversation.on_hold
    assert call.ari.kinds()[-1] == "start_moh"  # music again, not silence
    assert call.conversation.transferred_to is None
    assert await call.conversation.ask(Hold(False)) is False  # the agent can still unhold
    assert CALLER in call.ari.bridges[BRIDGE]
    call.ari.hang_up(CALLER)
    await call.ends()
    assert call.left_behind() == (set(), set())


async def test_a_three_way_call_leaves_a_caller_on_hold_on_hold() -> None:
    """Not a transfer: the agent consults the department while the caller waits,
    and takes the caller off hold when ready (then all three talk)."""
    call = Call()
    assert await call.conversation.ask(Hold(True)) is True
    done = await call.conversation.ask(Transfer(call.to("88001234"), blind=False))
    assert done == TransferDone("88001234", ["t1"])
    assert call.conversation.on_hold and CALLER not in call.ari.bridges[BRIDGE]
    assert await call.conversation.ask(Hold(False)) is False
    assert sorted(call.ari.bridges[BRIDGE]) == sorted(
        [AGENT_LEG, call.dialled_leg("transfer-"), CALLER]
    )
    call.ari.hang_up(CALLER)
    await call.ends()
    assert call.left_behind() == (set(), set())
