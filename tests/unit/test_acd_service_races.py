"""Random interleavings of queue events: no agent is ever offered to two callers, no
caller to two agents, nobody waits while an eligible agent is free.

hypothesis is not installed, so this is a seeded random walk; a failure names its seed
and replays the steps taken.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from callcenter.acd.agents import REQUESTABLE, Agent, AgentState, IllegalAgentTransition
from callcenter.acd.queues import QueueConfig
from callcenter.acd.roster import AgentConfig, Roster
from callcenter.acd.routing import eligible
from callcenter.acd.service import Waiting

from .acd_support import Harness, config, settle

S = AgentState
QUEUES = {
    "general": QueueConfig(strategy="longest-idle", wrapup_seconds=0),
    "english": QueueConfig(strategy="round-robin", wrapup_seconds=0),
    "enterprise": QueueConfig(strategy="skills", wrapup_seconds=0),
    "tax": QueueConfig(strategy="fewest-calls", wrapup_seconds=0),
}
SEEDS_PER_CASE = 10
CASES = 20
STEPS = 250


@dataclass(eq=False)
class Caller:
    entry: Waiting
    phase: str = "waiting"  # waiting | offered | talking | done
    agent: Agent | None = None


def random_config(rng: random.Random, agent_id: str) -> AgentConfig:
    queues = [q for q in QUEUES if rng.random() < (0.9 if q == "general" else 0.5)] or ["tax"]
    return config(
        agent_id,
        {q: rng.randint(1, 10) for q in queues},
        languages=["zh", *rng.sample(["en", "yue"], rng.randint(0, 1))],
    )


class Walk:
    def __init__(self, seed: int, roster_changes: bool) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.roster_changes = roster_changes
        size = 2 + seed % 9  # from a crowd on two agents to ten agents
        self.pool = {f"a{i}": random_config(self.rng, f"a{i}") for i in range(1, size + 1)}
        self.h = Harness(self.pool, QUEUES)
        self.acd = self.h.acd
        self.callers: list[Caller] = []
        self.log: list[str] = []

    # --- the model follows the service ----------------------------------------------
    def sync(self) -> None:
        """Callers whose offer resolved are now being rung, as queue_call would see it."""
        for c in self.callers:
            if c.phase == "waiting" and c.entry.offer.done():
                assert not c.entry.offer.cancelled(), "a waiting caller's offer was cancelled"
                c.phase, c.agent = "offered", c.entry.offer.result()

    def pick(self, phase: str) -> Caller | None:
        live = [c for c in self.callers if c.phase == phase]
        return self.rng.choice(live) if live else None

    # --- the invariants ---------------------------------------------------------------
    def check(self) -> None:
        agents = self.acd.agents
        busy = [c for c in self.callers if c.phase in ("offered", "talking")]
        held = [c.agent for c in busy]
        # No agent serves two callers.
        assert len({id(a) for a in held}) == len(held), "an agent is offered to two callers"
        for c in busy:
            a = c.agent
            assert agents.get(a.id) is a, f"caller holds agent {a.id} the ACD no longer knows"
            want = S.RINGING if c.phase == "offered" else S.ON_CALL
            assert a.state is want, f"{a.id} is {a.state.value}, caller {c.phase}"
            assert a.call_id == str(c.entry.call_id), f"{a.id} reserved for another call"
        for a in agents.values():
            if a.state in (S.RINGING, S.ON_CALL):
                assert any(x is a for x in held), f"{a.id} is {a.state.value} for nobody"
            elif a.state is not S.WRAP_UP:  # wrap-up keeps the call it follows
                assert a.call_id is None, f"{a.id} is {a.state.value} with call {a.call_id}"
            if a.state is S.AVAILABLE:
                assert a.idle_since is not None
        # Waiting callers: exactly the model's, in order, each with a pending offer.
        waiting = [c.entry for c in self.callers if c.phase == "waiting"]
        queued = self.acd.waiting()
        assert len(set(map(id, queued))) == len(queued), "a caller is queued twice"
        assert {id(e) for e in queued} == {id(e) for e in waiting}
        assert queued == sorted(queued, key=Waiting.order)
        assert all(not e.offer.done() for e in queued)
        # Nobody waits while an agent who could serve them is free.
        for e in queued:
            free = eligible(list(agents.values()), e.queue, e.skills, e.language)
            assert not free, f"caller waits while {[a.id for a in free]} are free"
        # Every state change reached the listener.
        last: dict[str, AgentState] = {}
        for agent_id, state, _ in self.h.changes:
            last[agent_id] = state
        for a in agents.values():
            assert last.get(a.id, S.LOGGED_OUT) is a.state, f"{a.id}: change not reported"

    # --- the operations ---------------------------------------------------------------
    async def step(self) -> None:
        rng = self.rng
        op = rng.choices(
            [
                "enqueue",
                "hang_up_waiting",
                "give_up_offered",
                "hang_up_ringing",
                "no_answer",
                "answer",
                "end_call",
                "request",
                "register",
                "tick",
                "roster",
            ],
            weights=[12, 5, 2, 3, 4, 8, 7, 8, 4, 6, 2 if self.roster_changes else 0],
        )[0]
        self.log.append(op)
        if op == "enqueue":
            entry = self.h.caller(
                rng.choice(["general", "general", *QUEUES]),
                priority=rng.choice([0, 0, 0, 1, 5]),
                skills=rng.choice([(), (), ("enterprise",)]),
                language=rng.choice([None, None, None, "zh", "en", "yue"]),
            )
            self.callers.append(Caller(entry))
            self.acd.enqueue(entry)
        elif op == "hang_up_waiting" and (c := self.pick("waiting")):
            self.acd.leave(c.entry)
            assert c.entry.offer.cancelled()
            c.phase = "done"
        elif op == "give_up_offered" and (c := self.pick("offered")):
            # Max wait reached just as the offer came: leave before ringing.
            self.acd.leave(c.entry)
            c.phase = "done"
        elif op == "hang_up_ringing" and (c := self.pick("offered")):
            self.acd.ring_cancelled(c.agent)
            self.acd.leave(c.entry)
            c.phase = "done"
        elif op == "no_answer" and (c := self.pick("offered")):
            agent = c.agent
            self.acd.not_answered(agent, c.entry, rng.choice(["no answer", "rejected"]))
            assert agent.state is S.PAUSED or agent.id not in self.acd.agents
            c.phase, c.agent = "waiting", None
        elif op == "answer" and (c := self.pick("offered")):
            self.acd.answered(c.agent, c.entry)
            c.phase = "talking"
        elif op == "end_call" and (c := self.pick("talking")):
            self.h.clock.advance(rng.randint(1, 300))
            self.acd.call_ended(c.agent, c.entry.queue, float(rng.randint(1, 300)))
            assert c.agent.state is S.WRAP_UP
            c.phase = "done"
        elif op == "request":
            agent_id = rng.choice(list(self.acd.agents))
            agent = self.acd.agents[agent_id]
            wanted = rng.choices([S.AVAILABLE, S.PAUSED, S.LOGGED_OUT], weights=[6, 3, 1])[0]
            assert wanted in REQUESTABLE
            before = agent.state
            try:
                self.acd.request_state(agent_id, wanted, rng.choice([None, "break"]))
            except IllegalAgentTransition:
                assert before in (S.RINGING, S.ON_CALL) and wanted is not before
                assert agent.state is before
            else:
                assert before not in (S.RINGING, S.ON_CALL)
        elif op == "register":
            agent = self.acd.agents[rng.choice(list(self.acd.agents))]
            online = rng.random() < 0.6
            self.acd.seat_registered(agent.config.seat, online)
            assert agent.registered is online
        elif op == "tick":
            await settle()
        elif op == "roster":
            kept = [i for i in self.pool if rng.random() < 0.7] or ["a1"]
            configs = {
                i: random_config(rng, i) if rng.random() < 0.3 else self.pool[i] for i in kept
            }
            self.acd.load_roster(Roster(agents=configs))
        self.h.clock.advance(rng.randint(0, 3))
        self.sync()
        self.check()
        self.callers = [c for c in self.callers if c.phase != "done"]

    async def drain(self) -> None:
        """Everybody hangs up; every agent ends free and no caller is left."""
        for c in self.callers:
            if c.phase == "waiting":
                self.acd.leave(c.entry)
            elif c.phase == "offered":
                self.acd.ring_cancelled(c.agent)
                self.acd.leave(c.entry)
            elif c.phase == "talking":
                self.acd.call_ended(c.agent, c.entry.queue, 10.0)
            c.phase = "done"
            self.sync()
        await settle()
        assert self.acd.waiting() == []
        for a in self.acd.agents.values():
            assert a.state in (S.AVAILABLE, S.PAUSED, S.LOGGED_OUT), (a.id, a.state)
            assert a.call_id is None
        self.check()
        self.acd.close()


@pytest.mark.parametrize("roster_changes", [False, True], ids=["fixed-roster", "reloads"])
@pytest.mark.parametrize("case", range(CASES))
async def test_random_interleavings_keep_the_pairing_invariants(case: int, roster_changes: bool):
    for seed in range(case * SEEDS_PER_CASE, (case + 1) * SEEDS_PER_CASE):
        walk = Walk(seed, roster_changes)
        # Everyone logged in at first, so offers happen from the first steps.
        for agent_id in walk.pool:
            walk.h.login(agent_id)
        walk.check()
        try:
            for _ in range(STEPS):
                await walk.step()
            await walk.drain()
        except AssertionError as exc:
            raise AssertionError(
                f"seed {seed}, roster_changes={roster_changes}, after steps {walk.log}: {exc}"
            ) from exc


async def test_the_walk_exercises_every_operation_and_outcome():
    """Guard against a walk that silently never offers, answers or re-queues."""
    seen: dict[str, int] = {}
    offers = answers = 0
    for seed in range(20):
        walk = Walk(seed, roster_changes=True)
        for agent_id in walk.pool:
            walk.h.login(agent_id)
        for _ in range(STEPS):
            await walk.step()
        for op in walk.log:
            seen[op] = seen.get(op, 0) + 1
        offers += sum(1 for _, state, _ in walk.h.changes if state is S.RINGING)
        answers += sum(1 for _, state, _ in walk.h.changes if state is S.ON_CALL)
        await walk.drain()
    assert set(seen) == {
        "enqueue",
        "hang_up_waiting",
        "give_up_offered",
        "hang_up_ringing",
        "no_answer",
        "answer",
        "end_call",
        "request",
        "register",
        "tick",
        "roster",
    }
    assert offers > 200
    assert answers > 100
