"""Which agent gets a caller: eligibility and the four strategies (pure functions)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from callcenter.acd.agents import AgentState
from callcenter.acd.routing import STRATEGIES, choose, eligible

from .acd_support import T0, agent

S = AgentState


def at(minutes: int):
    return T0 + timedelta(minutes=minutes)


def ids(agents) -> list[str]:
    return [a.id for a in agents]


# --- eligible ---------------------------------------------------------------------------
def test_eligible_keeps_free_registered_agents_who_serve_the_queue():
    agents = [
        agent("1"),
        agent("2", state=S.PAUSED),
        agent("3", registered=False),
        agent("4", skills={"english": 5}),
        agent("5", state=S.RINGING),
        agent("6", state=S.ON_CALL),
        agent("7", state=S.WRAP_UP),
        agent("8", state=S.LOGGED_OUT),
        agent("9", skills={"general": 1, "english": 9}),
    ]
    assert ids(eligible(agents, "general", (), None)) == ["1", "9"]
    assert ids(eligible(agents, "english", (), None)) == ["4", "9"]
    assert eligible(agents, "enterprise", (), None) == []
    assert eligible([], "general", (), None) == []


def test_eligible_requires_every_extra_skill():
    agents = [
        agent("1", skills={"general": 5}),
        agent("2", skills={"general": 5, "enterprise": 3}),
        agent("3", skills={"general": 5, "enterprise": 3, "tax": 1}),
        agent("4", skills={"enterprise": 9, "tax": 9}),  # does not serve the queue itself
    ]
    assert ids(eligible(agents, "general", ["enterprise"], None)) == ["2", "3"]
    assert ids(eligible(agents, "general", ["enterprise", "tax"], None)) == ["3"]
    assert ids(eligible(agents, "general", ["general"], None)) == ["1", "2", "3"]


def test_eligible_requires_the_language_when_one_is_asked_for():
    agents = [
        agent("1", languages=["zh"]),
        agent("2", languages=["zh", "yue"]),
        agent("3", languages=["en"]),
    ]
    assert ids(eligible(agents, "general", (), "yue")) == ["2"]
    assert ids(eligible(agents, "general", (), "zh")) == ["1", "2"]
    assert ids(eligible(agents, "general", (), None)) == ["1", "2", "3"]
    assert eligible(agents, "general", (), "fr") == []


def test_choose_returns_none_when_nobody_is_eligible():
    agents = [agent("1", state=S.PAUSED), agent("2", registered=False)]
    for strategy in STRATEGIES:
        assert choose(strategy, agents, "general") is None


def test_the_strategies_are_the_documented_four():
    assert set(STRATEGIES) == {"longest-idle", "fewest-calls", "round-robin", "skills"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_only_picks_an_eligible_agent(strategy: str):
    rng = random.Random(12345)
    for _ in range(300):
        agents = [
            agent(
                f"{i:02}",
                skills={
                    q: rng.randint(1, 10)
                    for q in ("general", "english", "tax")
                    if rng.random() < 0.6
                },
                languages=rng.sample(["zh", "en", "yue"], rng.randint(1, 3)),
                state=rng.choice(list(AgentState)),
                registered=rng.random() < 0.8,
                idle_since=at(rng.randint(0, 5)) if rng.random() < 0.9 else None,
                calls_answered=rng.randint(0, 3),
            )
            for i in range(rng.randint(0, 8))
        ]
        queue = rng.choice(["general", "english"])
        skills = rng.sample(["tax", "english"], rng.randint(0, 1))
        language = rng.choice([None, "zh", "en", "yue"])
        last = rng.choice([None, *ids(agents)])
        chosen = choose(strategy, agents, queue, skills, language, last)
        allowed = eligible(agents, queue, skills, language)
        assert (chosen is None) == (not allowed)
        if chosen is not None:
            assert chosen in allowed


# --- longest-idle -----------------------------------------------------------------------
def test_longest_idle_picks_the_earliest_idle_since():
    agents = [
        agent("1", idle_since=at(5)),
        agent("2", idle_since=at(1)),
        agent("3", idle_since=at(3)),
    ]
    assert choose("longest-idle", agents, "general").id == "2"


def test_longest_idle_breaks_ties_by_id():
    agents = [
        agent("b", idle_since=at(1)),
        agent("a", idle_since=at(1)),
        agent("c", idle_since=at(0)),
    ]
    assert choose("longest-idle", agents, "general").id == "c"
    agents[2].state = S.PAUSED
    assert choose("longest-idle", agents, "general").id == "a"


def test_longest_idle_ignores_agents_who_cannot_take_the_call():
    agents = [
        agent("1", idle_since=at(0), state=S.PAUSED),
        agent("2", idle_since=at(1), languages=["en"]),
        agent("3", idle_since=at(2)),
    ]
    assert choose("longest-idle", agents, "general", language="zh").id == "3"


def test_longest_idle_ignores_calls_answered():
    agents = [agent("1", idle_since=at(0), calls_answered=9), agent("2", idle_since=at(1))]
    assert choose("longest-idle", agents, "general").id == "1"


def test_default_strategy_arguments():
    agents = [agent("1", idle_since=at(2)), agent("2", idle_since=at(1))]
    assert choose("longest-idle", agents, "general").id == "2"


# --- fewest-calls -----------------------------------------------------------------------
def test_fewest_calls_picks_the_agent_with_fewest_answered_calls():
    agents = [
        agent("1", calls_answered=3, idle_since=at(0)),
        agent("2", calls_answered=1, idle_since=at(9)),
        agent("3", calls_answered=2, idle_since=at(1)),
    ]
    assert choose("fewest-calls", agents, "general").id == "2"


def test_fewest_calls_ties_go_to_the_longest_idle_then_the_id():
    agents = [
        agent("1", calls_answered=1, idle_since=at(4)),
        agent("2", calls_answered=1, idle_since=at(2)),
        agent("3", calls_answered=5, idle_since=at(0)),
    ]
    assert choose("fewest-calls", agents, "general").id == "2"
    agents[0].idle_since = at(2)
    assert choose("fewest-calls", agents, "general").id == "1"


# --- round-robin ------------------------------------------------------------------------
def test_round_robin_starts_with_the_lowest_id():
    agents = [agent("1003"), agent("1001", idle_since=at(9)), agent("1002")]
    assert choose("round-robin", agents, "general").id == "1001"


def test_round_robin_takes_the_next_id_after_the_last_agent():
    agents = [agent("1003"), agent("1001"), agent("1002")]
    assert choose("round-robin", agents, "general", last_agent="1001").id == "1002"
    assert choose("round-robin", agents, "general", last_agent="1002").id == "1003"


def test_round_robin_wraps_after_the_highest_id():
    agents = [agent("1003"), agent("1001"), agent("1002")]
    assert choose("round-robin", agents, "general", last_agent="1003").id == "1001"


def test_round_robin_skips_busy_agents_and_a_last_agent_no_longer_there():
    agents = [agent("1001"), agent("1002", state=S.ON_CALL), agent("1004")]
    assert choose("round-robin", agents, "general", last_agent="1001").id == "1004"
    # 1003 left the roster: the next one after it still comes next.
    assert choose("round-robin", agents, "general", last_agent="1003").id == "1004"
    assert choose("round-robin", agents, "general", last_agent="1004").id == "1001"


def test_round_robin_visits_everyone_in_turn():
    agents = [agent(i) for i in ("1004", "1002", "1001", "1003")]
    last, seen = None, []
    for _ in range(8):
        last = choose("round-robin", agents, "general", last_agent=last).id
        seen.append(last)
    assert seen == ["1001", "1002", "1003", "1004"] * 2


def test_round_robin_ignores_idle_time_and_calls():
    agents = [agent("1", idle_since=at(9), calls_answered=9), agent("2", idle_since=at(0))]
    assert choose("round-robin", agents, "general").id == "1"


# --- skills -----------------------------------------------------------------------------
def test_skills_picks_the_highest_level_in_the_queue():
    agents = [
        agent("1", skills={"general": 3}, idle_since=at(0)),
        agent("2", skills={"general": 8}, idle_since=at(5)),
        agent("3", skills={"general": 6}, idle_since=at(1)),
    ]
    assert choose("skills", agents, "general").id == "2"


def test_skills_adds_the_levels_of_the_extra_skills():
    agents = [
        agent("1", skills={"general": 9, "enterprise": 1}),
        agent("2", skills={"general": 4, "enterprise": 7}),
        agent("3", skills={"general": 10}),  # lacks the skill: not eligible
    ]
    assert choose("skills", agents, "general", ["enterprise"]).id == "2"
    # Levels in queues the caller did not ask for do not count.
    others = [agents[0], agent("4", skills={"general": 9, "tax": 10})]
    assert choose("skills", others, "general").id == "1"


def test_skills_ties_go_to_the_longest_idle_then_the_id():
    agents = [
        agent("1", skills={"general": 5}, idle_since=at(3)),
        agent("2", skills={"general": 5}, idle_since=at(1)),
        agent("3", skills={"general": 4}, idle_since=at(0)),
    ]
    assert choose("skills", agents, "general").id == "2"
    agents[0].idle_since = at(1)
    assert choose("skills", agents, "general").id == "1"


def test_unknown_strategy_is_a_key_error():
    # QueueConfig only admits the four names; the routing table has no fallback.
    with pytest.raises(KeyError):
        choose("random", [agent("1")], "general")
