"""The ACD service: pairing waiting callers with free agents, without Asterisk."""

from __future__ import annotations

from datetime import timedelta

import pytest

from callcenter.acd.agents import AgentState, IllegalAgentTransition, UnknownAgent
from callcenter.acd.queues import QueueConfig
from callcenter.acd.roster import Roster
from callcenter.acd.service import AcdService

from .acd_support import T0, Harness, config, settle

S = AgentState
GENERAL = {"general": QueueConfig(wrapup_seconds=0)}


def two_agents(**queues: QueueConfig) -> Harness:
    return Harness({"1001": config("1001"), "1002": config("1002")}, queues or GENERAL)


def offered(entry) -> str | None:
    """The id of the agent offered to ``entry``, None while it waits."""
    if not entry.offer.done() or entry.offer.cancelled():
        return None
    return entry.offer.result().id


# --- start-up and roster ----------------------------------------------------------------
async def test_agents_start_logged_out_and_unregistered():
    h = two_agents()
    assert h.states() == {"1001": S.LOGGED_OUT, "1002": S.LOGGED_OUT}
    assert all(not a.registered for a in h.acd.agents.values())
    assert all(a.since == T0 for a in h.acd.agents.values())
    assert h.changes == []  # building the roster is not a state change
    assert h.acd.agent_at_seat("seat-1001") is h["1001"]
    assert h.acd.agent_at_seat("seat-9999") is None


async def test_the_default_clock_is_aware_utc():
    acd = AcdService(Roster(agents={"1": config("1")}), GENERAL, lambda a: None)
    assert acd.agents["1"].since.utcoffset() == timedelta(0)


# --- a single offer -----------------------------------------------------------------------
async def test_enqueue_reserves_exactly_one_agent():
    h = two_agents()
    h.login("1001", "1002")
    h.changes.clear()
    entry = h.enqueue()
    assert offered(entry) == "1001"  # logged in first: idle longest
    a = h["1001"]
    assert a.state is S.RINGING
    assert a.call_id == str(entry.call_id)
    assert a.reason == "general"
    assert h["1002"].state is S.AVAILABLE
    assert h.changes == [("1001", S.RINGING, "general")]
    assert h.acd.waiting() == []
    assert h.acd.position(entry) == 0


async def test_a_caller_waits_while_nobody_is_free_and_is_offered_on_login():
    h = two_agents()
    entry = h.enqueue()
    assert not entry.offer.done()
    assert h.acd.waiting() == [entry]
    assert h.acd.position(entry) == 1
    h.acd.seat_registered("seat-1002", True)
    assert not entry.offer.done()  # registered but still logged out
    h.acd.request_state("1002", S.AVAILABLE)
    assert offered(entry) == "1002"
    assert h.acd.waiting() == []


async def test_the_on_change_listener_sees_every_change_with_the_agent_updated():
    seen = []
    h = two_agents()
    h.acd.on_change = lambda a: seen.append((a.id, a.state, a.since, a.call_id))
    h.acd.seat_registered("seat-1001", True)
    h.acd.request_state("1001", S.AVAILABLE)
    entry = h.enqueue()
    assert seen[0] == ("1001", S.AVAILABLE, T0, None)
    assert seen[1][:2] == ("1001", S.RINGING)
    assert seen[1][3] == str(entry.call_id)  # call_id already set when listeners run


# --- order of callers --------------------------------------------------------------------
async def test_higher_priority_first_then_earlier_arrival_across_queues():
    queues = {"general": QueueConfig(wrapup_seconds=0), "english": QueueConfig(wrapup_seconds=0)}
    h = Harness({"1001": config("1001", {"general": 5, "english": 5})}, queues)
    a = h.enqueue(priority=0)
    b = h.enqueue("english", priority=0)
    c = h.enqueue(priority=5)
    d = h.enqueue("english", priority=5)
    e = h.enqueue(priority=1)
    assert h.acd.waiting() == [c, d, e, a, b]
    assert h.acd.waiting("english") == [d, b]
    assert [h.acd.position(x) for x in (a, b, c, d, e)] == [3, 2, 1, 1, 2]
    h.login("1001")
    assert [offered(x) for x in (a, b, c, d, e)] == [None, None, "1001", None, None]


async def test_arrival_time_not_enqueue_call_order_decides():
    h = two_agents()
    late = h.caller(at=T0 + timedelta(minutes=2))
    early = h.caller(at=T0 + timedelta(minutes=1))
    h.acd.enqueue(late)
    h.acd.enqueue(early)
    assert h.acd.waiting() == [early, late]
    h.login("1001")
    assert offered(early) == "1001"
    assert offered(late) is None


async def test_a_caller_nobody_can_serve_does_not_block_the_next_one():
    h = Harness({"1001": config("1001", languages=["zh"])}, GENERAL)
    cantonese = h.enqueue(language="yue")
    mandarin = h.enqueue(language="zh")
    h.login("1001")
    assert offered(cantonese) is None
    assert offered(mandarin) == "1001"
    assert h.acd.waiting() == [cantonese]
    assert h.acd.position(cantonese) == 1


async def test_skills_and_languages_route_to_the_right_desk():
    h = Harness(
        {
            "1001": config("1001", {"general": 9}),
            "1002": config("1002", {"general": 2, "enterprise": 5}),
            "1003": config("1003", {"general": 3}, languages=["zh", "yue"]),
        },
        GENERAL,
    )
    h.login("1001", "1002", "1003")
    firm = h.enqueue(skills=["enterprise"])
    dialect = h.enqueue(language="yue")
    plain = h.enqueue()
    assert (offered(firm), offered(dialect), offered(plain)) == ("1002", "1003", "1001")


# --- one agent, two callers ---------------------------------------------------------------
async def test_two_callers_one_agent_the_second_is_offered_after_wrap_up():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    first, second = h.enqueue(), h.enqueue()
    agent = h["1001"]
    assert offered(first) == "1001"
    assert offered(second) is None
    assert h.acd.waiting() == [second]

    h.acd.answered(agent, first)
    assert agent.state is S.ON_CALL
    assert agent.call_id == str(first.call_id)
    assert agent.calls_answered == 1
    assert offered(second) is None

    h.clock.advance(60)
    h.acd.call_ended(agent, "general", 60.0)
    assert agent.state is S.WRAP_UP
    assert agent.reason == "general"
    assert offered(second) is None  # wrap-up first, even of zero seconds

    await settle()
    assert offered(second) == "1001"
    assert agent.state is S.RINGING
    assert agent.call_id == str(second.call_id)
    assert [c[1] for c in h.changes if c[0] == "1001"] == [
        S.AVAILABLE,
        S.RINGING,
        S.ON_CALL,
        S.WRAP_UP,
        S.AVAILABLE,
        S.RINGING,
    ]


async def test_wrap_up_lasts_the_queues_seconds():
    queues = {"general": QueueConfig(wrapup_seconds=20)}
    h = Harness({"1001": config("1001")}, queues)
    h.login("1001")
    first, second = h.enqueue(), h.enqueue()
    agent = h["1001"]
    h.acd.answered(agent, first)
    h.acd.call_ended(agent, "general", 30.0)
    h.timers.advance(19.9)
    assert agent.state is S.WRAP_UP
    assert offered(second) is None
    h.timers.advance(0.1)
    assert offered(second) == "1001"


async def test_call_ended_for_an_unknown_queue_wraps_up_for_zero_seconds():
    h = Harness({"1001": config("1001", {"general": 5})}, {})
    h.login("1001")
    first = h.enqueue()
    h.acd.answered(h["1001"], first)
    h.acd.call_ended(h["1001"], "general", 10.0)
    assert h["1001"].state is S.WRAP_UP
    await settle()
    assert h["1001"].state is S.AVAILABLE


async def test_call_ended_when_not_on_call_only_records_the_talk_time():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    h.changes.clear()
    h.acd.call_ended(h["1001"], "general", 10.0)
    assert h["1001"].state is S.AVAILABLE
    assert h.changes == []


async def test_the_strategy_comes_from_the_queue():
    queues = {"general": QueueConfig(strategy="round-robin", wrapup_seconds=0)}
    h = Harness({i: config(i) for i in ("1003", "1001", "1002")}, queues)
    # Logged in in reverse, so longest-idle would pick 1003 first.
    h.login("1003", "1002", "1001")
    callers = [h.enqueue() for _ in range(3)]
    assert [offered(c) for c in callers] == ["1001", "1002", "1003"]
    for c in callers:
        agent = c.offer.result()
        h.acd.answered(agent, c)
        h.acd.call_ended(agent, "general", 5.0)
    await settle()
    # The next round starts after the last agent rung: 1001 again (wrapping).
    assert offered(h.enqueue()) == "1001"


async def test_fewest_calls_counts_answered_calls():
    queues = {"general": QueueConfig(strategy="fewest-calls", wrapup_seconds=0)}
    h = Harness({i: config(i) for i in ("1001", "1002")}, queues)
    h.login("1001", "1002")
    first = h.enqueue()
    assert offered(first) == "1001"
    h.acd.answered(h["1001"], first)
    h.acd.call_ended(h["1001"], "general", 5.0)
    await settle()
    # 1001 became available again just now, and has one call: 1002 either way.
    assert offered(h.enqueue()) == "1002"


async def test_longest_idle_prefers_the_agent_free_longest():
    h = two_agents()
    h.login("1002", "1001")
    assert offered(h.enqueue()) == "1002"
    assert offered(h.enqueue()) == "1001"


# --- no answer ----------------------------------------------------------------------------
async def test_not_answered_pauses_the_agent_and_requeues_the_caller_in_place():
    h = two_agents()
    h.login("1001")
    first, later = h.enqueue(), h.enqueue()
    old_offer = first.offer
    assert offered(first) == "1001"
    h.clock.advance(15)
    h.acd.not_answered(h["1001"], first, "no answer")
    a = h["1001"]
    assert (a.state, a.reason, a.call_id) == (S.PAUSED, "no answer", None)
    assert h.changes[-1] == ("1001", S.PAUSED, "no answer")
    assert first.offer is not old_offer
    assert not first.offer.done()
    assert old_offer.result() is a  # the old offer is left alone
    assert first.enqueued_at == T0 + timedelta(seconds=1)  # the caller's place is kept
    assert h.acd.waiting() == [first, later]
    assert h.acd.position(first) == 1
    h.login("1002")
    assert offered(first) == "1002"
    assert offered(later) is None


async def test_not_answered_with_another_agent_free_offers_the_next_agent_at_once():
    h = two_agents()
    h.login("1001", "1002")
    entry = h.enqueue()
    assert offered(entry) == "1001"
    h.acd.not_answered(h["1001"], entry, "rejected")
    assert offered(entry) == "1002"
    assert h["1001"].state is S.PAUSED
    assert h["1001"].reason == "rejected"


async def test_a_paused_agent_is_not_offered_again_until_available():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    h.acd.not_answered(h["1001"], entry, "no answer")
    assert not entry.offer.done()
    h.acd.request_state("1001", S.AVAILABLE)
    assert offered(entry) == "1001"


# --- leaving ------------------------------------------------------------------------------
async def test_leave_while_waiting_cancels_the_offer():
    h = two_agents()
    entry, other = h.enqueue(), h.enqueue()
    h.acd.leave(entry)
    assert entry.offer.cancelled()
    assert h.acd.waiting() == [other]
    assert h.acd.position(entry) == 0
    h.login("1001")
    assert offered(other) == "1001"


async def test_leave_after_the_offer_frees_the_reserved_agent():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    assert offered(entry) == "1001"
    h.acd.leave(entry)
    a = h["1001"]
    assert (a.state, a.reason, a.call_id) == (S.AVAILABLE, "caller left", None)
    assert h.changes[-1] == ("1001", S.AVAILABLE, "caller left")
    assert offered(entry) == "1001"  # the resolved offer is not touched


async def test_leave_after_the_offer_passes_the_agent_to_the_next_caller():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    entry, nxt = h.enqueue(), h.enqueue()
    h.acd.leave(entry)
    assert offered(nxt) == "1001"
    assert h["1001"].call_id == str(nxt.call_id)
    h.acd.leave(entry)  # twice: nothing more happens
    assert h["1001"].call_id == str(nxt.call_id)
    assert h["1001"].state is S.RINGING


async def test_leave_after_the_call_was_answered_keeps_the_agent_on_the_call():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    h.acd.answered(h["1001"], entry)
    h.acd.leave(entry)
    assert h["1001"].state is S.ON_CALL


async def test_leave_after_ring_cancelled_does_not_free_an_agent_reserved_for_someone_else():
    # queue_call: on hang-up during the ring it calls ring_cancelled, then leave.
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    gone, nxt = h.enqueue(), h.enqueue()
    h.acd.ring_cancelled(h["1001"])
    assert offered(nxt) == "1001"
    h.acd.leave(gone)
    assert h["1001"].state is S.RINGING
    assert h["1001"].call_id == str(nxt.call_id)


async def test_leave_of_a_caller_never_enqueued_is_harmless():
    h = two_agents()
    entry = h.caller()
    h.acd.leave(entry)
    assert entry.offer.cancelled()
    assert h.acd.waiting() == []


async def test_an_entry_whose_offer_was_cancelled_elsewhere_is_dropped_by_dispatch():
    h = Harness({"1001": config("1001")}, GENERAL)
    entry, other = h.enqueue(), h.enqueue()
    entry.offer.cancel()  # the caller's task went away without leave()
    h.login("1001")
    assert offered(other) == "1001"
    assert h.acd.waiting() == []


# --- ring cancelled -----------------------------------------------------------------------
async def test_ring_cancelled_frees_the_agent():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    h.enqueue()
    h.acd.ring_cancelled(h["1001"])
    a = h["1001"]
    assert (a.state, a.reason, a.call_id) == (S.AVAILABLE, "caller left", None)
    assert a.idle_since == h.clock()


@pytest.mark.parametrize("state", [S.ON_CALL, S.PAUSED, S.AVAILABLE])
async def test_ring_cancelled_when_not_ringing_changes_nothing(state: AgentState):
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    if state is S.ON_CALL:
        h.acd.answered(h["1001"], entry)
    elif state is S.PAUSED:
        h.acd.not_answered(h["1001"], entry, "no answer")
    else:
        h.acd.leave(entry)
    h.changes.clear()
    h.acd.ring_cancelled(h["1001"])
    assert h["1001"].state is state
    assert h.changes == []


# --- agent requests -----------------------------------------------------------------------
async def test_request_state_unknown_agent():
    h = two_agents()
    with pytest.raises(UnknownAgent, match="9999"):
        h.acd.request_state("9999", S.AVAILABLE)


@pytest.mark.parametrize("state", [S.RINGING, S.ON_CALL, S.WRAP_UP])
async def test_request_state_refuses_acd_only_states(state: AgentState):
    h = two_agents()
    h.login("1001")
    with pytest.raises(IllegalAgentTransition, match="set by the ACD"):
        h.acd.request_state("1001", state)
    assert h["1001"].state is S.AVAILABLE


@pytest.mark.parametrize("wanted", [S.AVAILABLE, S.PAUSED, S.LOGGED_OUT])
@pytest.mark.parametrize("busy", [S.RINGING, S.ON_CALL])
async def test_request_state_refuses_changes_while_ringing_or_on_call(busy, wanted):
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    if busy is S.ON_CALL:
        h.acd.answered(h["1001"], entry)
    h.changes.clear()
    with pytest.raises(IllegalAgentTransition, match=f"is {busy.value}"):
        h.acd.request_state("1001", wanted, "break")
    assert h["1001"].state is busy
    assert h["1001"].call_id == str(entry.call_id)
    assert h.changes == []


async def test_the_free_states_can_be_requested_in_any_order():
    h = two_agents()
    for state in (S.PAUSED, S.AVAILABLE, S.LOGGED_OUT, S.PAUSED, S.LOGGED_OUT):
        h.acd.request_state("1001", state)
        assert h["1001"].state is state


async def test_pause_with_a_reason_and_resume():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    h.acd.request_state("1001", S.PAUSED, "training")
    assert (h["1001"].state, h["1001"].reason) == (S.PAUSED, "training")
    entry = h.enqueue()
    assert offered(entry) is None
    agent = h.acd.request_state("1001", S.AVAILABLE)
    assert agent is h["1001"]
    assert offered(entry) == "1001"


async def test_log_in_paused_from_logged_out():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.acd.request_state("1001", S.PAUSED, "after-call work")
    assert h["1001"].state is S.PAUSED


async def test_request_during_wrap_up_cancels_the_wrap_up_timer():
    queues = {
        "general": QueueConfig(wrapup_seconds=10),
        "long": QueueConfig(wrapup_seconds=600),
    }
    h = Harness({"1001": config("1001", {"general": 5, "long": 5})}, queues)
    h.login("1001")
    first = h.enqueue()
    h.acd.answered(h["1001"], first)
    h.acd.call_ended(h["1001"], "general", 5.0)
    h.acd.request_state("1001", S.AVAILABLE)  # skip wrap-up
    second = h.enqueue("long")
    h.acd.answered(h["1001"], second)
    h.acd.call_ended(h["1001"], "long", 5.0)
    h.timers.advance(11)  # the first, 10 s timer must not end the 600 s wrap-up
    assert h["1001"].state is S.WRAP_UP
    h.timers.advance(600)
    assert h["1001"].state is S.AVAILABLE
    h.acd.close()


async def test_logging_out_during_wrap_up():
    h = Harness({"1001": config("1001")}, {"general": QueueConfig(wrapup_seconds=600)})
    h.login("1001")
    entry = h.enqueue()
    h.acd.answered(h["1001"], entry)
    h.acd.call_ended(h["1001"], "general", 5.0)
    h.acd.request_state("1001", S.LOGGED_OUT)
    assert h["1001"].state is S.LOGGED_OUT
    assert h.acd._wrapups == {}


# --- registrations ------------------------------------------------------------------------
async def test_an_unregistered_agent_is_never_offered():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.acd.request_state("1001", S.AVAILABLE)
    entry = h.enqueue()
    assert offered(entry) is None
    h.acd.seat_registered("seat-1001", True)
    assert offered(entry) == "1001"


async def test_unregistering_takes_the_agent_out_of_rotation():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    h.acd.seat_registered("seat-1001", False)
    assert h["1001"].state is S.AVAILABLE  # the state is kept; the seat is just offline
    entry = h.enqueue()
    assert offered(entry) is None
    h.acd.seat_registered("seat-1001", True)
    assert offered(entry) == "1001"


async def test_registration_of_an_unknown_seat_or_no_change_is_ignored():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.acd.seat_registered("seat-9999", True)
    h.acd.seat_registered("seat-1001", False)
    assert h["1001"].registered is False
    assert h.changes == []


# --- staffed, position, estimated wait ---------------------------------------------------
async def test_staffed():
    h = Harness(
        {"1001": config("1001", {"general": 5}), "1002": config("1002", {"english": 5})},
        GENERAL,
    )
    assert not h.acd.staffed("general")
    h.acd.request_state("1001", S.PAUSED, "break")
    assert not h.acd.staffed("general")  # logged in, seat not registered
    h.acd.seat_registered("seat-1001", True)
    assert h.acd.staffed("general")  # paused still counts: they will be back
    assert not h.acd.staffed("english")
    h.acd.request_state("1001", S.LOGGED_OUT)
    assert not h.acd.staffed("general")
    assert not h.acd.staffed("nosuchqueue")


async def test_position_counts_only_the_same_queue():
    queues = {"general": QueueConfig(), "english": QueueConfig()}
    h = Harness({"1001": config("1001")}, queues)
    g1, e1, g2 = h.enqueue(), h.enqueue("english"), h.enqueue()
    assert [h.acd.position(x) for x in (g1, e1, g2)] == [1, 1, 2]
    h.acd.leave(g1)
    assert [h.acd.position(x) for x in (g1, e1, g2)] == [0, 1, 1]


async def test_estimated_wait_uses_three_minutes_until_calls_were_handled():
    h = Harness({i: config(i) for i in ("1001", "1002", "1003")}, GENERAL)
    callers = [h.enqueue() for _ in range(3)]
    # Nobody serving: divided by one.
    assert [h.acd.estimated_wait_seconds(c) for c in callers] == [180.0, 360.0, 540.0]
    h.acd.seat_registered("seat-1001", True)
    h.acd.seat_registered("seat-1002", True)
    h.acd.request_state("1001", S.PAUSED, "break")
    h.acd.request_state("1002", S.PAUSED, "break")
    h.acd.request_state("1003", S.PAUSED, "break")  # not registered: not serving
    assert h.acd.estimated_wait_seconds(callers[2]) == 3 * 180.0 / 2
    assert h.acd.estimated_wait_seconds(h.caller()) == 0.0  # not waiting


async def test_estimated_wait_follows_the_talk_times_of_the_last_50_calls():
    h = Harness({"1001": config("1001")}, GENERAL)
    entry = h.enqueue()
    h.acd.call_ended(h["1001"], "general", 60.0)
    h.acd.call_ended(h["1001"], "general", 120.0)
    assert h.acd.estimated_wait_seconds(entry) == 90.0
    h.acd.call_ended(h["1001"], "english", 1000.0)  # another queue's
    assert h.acd.estimated_wait_seconds(entry) == 90.0
    for _ in range(50):
        h.acd.call_ended(h["1001"], "general", 30.0)
    assert h.acd.estimated_wait_seconds(entry) == 30.0


# --- roster reloads -----------------------------------------------------------------------
async def test_load_roster_adds_agents_logged_out():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    h.acd.load_roster(Roster(agents={"1001": config("1001"), "1002": config("1002")}))
    assert h.states() == {"1001": S.AVAILABLE, "1002": S.LOGGED_OUT}
    assert h.acd.agent_at_seat("seat-1002") is h["1002"]


async def test_load_roster_updates_the_config_of_existing_agents_in_place():
    h = Harness({"1001": config("1001", {"general": 5})}, GENERAL)
    h.login("1001")
    agent = h["1001"]
    h.acd.load_roster(Roster(agents={"1001": config("1001", {"english": 5}, seat="seat-x")}))
    assert h["1001"] is agent
    assert agent.state is S.AVAILABLE
    assert agent.config.skills == {"english": 5}
    assert h.acd.agent_at_seat("seat-x") is agent
    assert h.acd.agent_at_seat("seat-1001") is None
    assert offered(h.enqueue()) is None  # no longer serves general


async def test_load_roster_offers_waiting_callers_to_agents_who_now_serve_the_queue():
    h = Harness({"1001": config("1001", {"english": 5})}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    assert offered(entry) is None
    h.acd.load_roster(Roster(agents={"1001": config("1001", {"english": 5, "general": 1})}))
    assert offered(entry) == "1001"


@pytest.mark.parametrize("state", [S.AVAILABLE, S.PAUSED, S.WRAP_UP, S.LOGGED_OUT])
async def test_load_roster_removes_free_agents_at_once(state: AgentState):
    h = Harness({"1001": config("1001"), "1002": config("1002")}, {"general": QueueConfig()})
    h.login("1001")
    if state is S.PAUSED:
        h.acd.request_state("1001", S.PAUSED, "break")
    elif state is S.WRAP_UP:
        entry = h.enqueue()
        h.acd.answered(h["1001"], entry)
        h.acd.call_ended(h["1001"], "general", 5.0)
    elif state is S.LOGGED_OUT:
        h.acd.request_state("1001", S.LOGGED_OUT)
    h.changes.clear()
    h.acd.load_roster(Roster(agents={"1002": config("1002")}))
    assert "1001" not in h.acd.agents
    assert h.acd.agent_at_seat("seat-1001") is None
    if state is not S.LOGGED_OUT:
        assert h.changes == [("1001", S.LOGGED_OUT, "removed from roster")]
    else:
        assert h.changes == []
    h.acd.close()


async def test_load_roster_keeps_an_agent_on_a_call_until_the_call_ends():
    h = Harness({"1001": config("1001"), "1002": config("1002")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    agent = h["1001"]
    h.acd.answered(agent, entry)
    h.acd.load_roster(Roster(agents={"1002": config("1002")}))
    assert h.acd.agents["1001"] is agent
    assert agent.state is S.ON_CALL
    assert agent.call_id == str(entry.call_id)
    assert h.acd.agent_at_seat("seat-1001") is agent


async def test_load_roster_keeps_a_ringing_agent_reserved():
    h = Harness({"1001": config("1001"), "1002": config("1002")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    h.acd.load_roster(Roster(agents={"1002": config("1002")}))
    assert h["1001"].state is S.RINGING
    assert h["1001"].call_id == str(entry.call_id)


async def test_an_agent_removed_mid_call_is_gone_once_the_call_ends():
    h = Harness({"1001": config("1001"), "1002": config("1002")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    h.acd.answered(h["1001"], entry)
    h.acd.load_roster(Roster(agents={"1002": config("1002")}))
    h.acd.call_ended(h["1001"], "general", 5.0)
    await settle()
    nxt = h.enqueue()
    assert offered(nxt) is None
    assert "1001" not in h.acd.agents


async def test_an_agent_removed_while_reserved_is_gone_when_the_caller_leaves():
    h = Harness({"1001": config("1001"), "1002": config("1002")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    h.acd.load_roster(Roster(agents={"1002": config("1002")}))
    h.acd.leave(entry)  # hung up before the seat was rung
    assert "1001" not in h.acd.agents
    assert offered(h.enqueue()) is None


async def test_an_agent_removed_while_ringing_is_not_offered_again():
    h = Harness({"1001": config("1001"), "1002": config("1002")}, GENERAL)
    h.login("1001")
    h.enqueue()
    h.acd.load_roster(Roster(agents={"1002": config("1002")}))
    h.acd.ring_cancelled(h["1001"])
    assert offered(h.enqueue()) is None


async def test_an_agent_moved_to_another_seat_waits_for_that_seat_to_register():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    h.acd.load_roster(Roster(agents={"1001": config("1001", seat="seat-new")}))
    entry = h.enqueue()
    assert offered(entry) is None
    h.acd.seat_registered("seat-new", True)
    assert offered(entry) == "1001"


# --- close --------------------------------------------------------------------------------
async def test_close_cancels_wrap_up_timers():
    queues = {"general": QueueConfig(wrapup_seconds=5)}
    h = Harness({"1001": config("1001"), "1002": config("1002")}, queues)
    h.login("1001", "1002")
    for _ in range(2):
        entry = h.enqueue()
        agent = entry.offer.result()
        h.acd.answered(agent, entry)
        h.acd.call_ended(agent, "general", 5.0)
    h.acd.close()
    h.timers.advance(10)
    assert h.states() == {"1001": S.WRAP_UP, "1002": S.WRAP_UP}
    h.acd.close()  # twice is fine


# --- gaps ---------------------------------------------------------------------------------
async def test_asking_again_for_available_keeps_the_place_in_longest_idle():
    h = two_agents()
    h.login("1001", "1002")
    h.acd.request_state("1001", S.AVAILABLE)  # already available
    assert offered(h.enqueue()) == "1001"


async def test_answered_for_an_agent_no_longer_reserved_is_refused_without_counting():
    h = Harness({"1001": config("1001")}, GENERAL)
    h.login("1001")
    entry = h.enqueue()
    h.acd.leave(entry)  # freed: the agent is available again
    with pytest.raises(IllegalAgentTransition):
        h.acd.answered(h["1001"], entry)
    assert h["1001"].calls_answered == 0
