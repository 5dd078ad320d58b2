"""Which available agent gets a caller: pure functions, one per strategy."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from callcenter.acd.agents import Agent

STRATEGIES = ("longest-idle", "fewest-calls", "round-robin", "skills")
_EPOCH = datetime.min


def eligible(
    agents: Sequence[Agent], queue: str, skills: Sequence[str], language: str | None
) -> list[Agent]:
    """Free, registered agents who serve ``queue``, have every skill and speak the language."""
    return [
        a
        for a in agents
        if a.can_take_calls()
        and queue in a.config.skills
        and all(s in a.config.skills for s in skills)
        and (language is None or language in a.config.languages)
    ]


def _idle(agent: Agent) -> datetime:
    return (agent.idle_since or _EPOCH).replace(tzinfo=None)


def _longest_idle(
    candidates: list[Agent], queue: str, skills: Sequence[str], last: str | None
) -> Agent:
    return min(candidates, key=lambda a: (_idle(a), a.id))


def _fewest_calls(
    candidates: list[Agent], queue: str, skills: Sequence[str], last: str | None
) -> Agent:
    return min(candidates, key=lambda a: (a.calls_answered, _idle(a), a.id))


def _round_robin(
    candidates: list[Agent], queue: str, skills: Sequence[str], last: str | None
) -> Agent:
    ordered = sorted(candidates, key=lambda a: a.id)
    after = [a for a in ordered if last is None or a.id > last]
    return (after or ordered)[0]


def _skills(candidates: list[Agent], queue: str, skills: Sequence[str], last: str | None) -> Agent:
    def level(a: Agent) -> int:
        return a.config.skills.get(queue, 0) + sum(a.config.skills.get(s, 0) for s in skills)

    return min(candidates, key=lambda a: (-level(a), _idle(a), a.id))


_CHOOSERS: dict[str, Callable[[list[Agent], str, Sequence[str], str | None], Agent]] = {
    "longest-idle": _longest_idle,
    "fewest-calls": _fewest_calls,
    "round-robin": _round_robin,
    "skills": _skills,
}


def choose(
    strategy: str,
    agents: Sequence[Agent],
    queue: str,
    skills: Sequence[str] = (),
    language: str | None = None,
    last_agent: str | None = None,
) -> Agent | None:
    """The agent to ring, or None when nobody can take the call."""
    candidates = eligible(agents, queue, skills, language)
    if not candidates:
        return None
    return _CHOOSERS[strategy](candidates, queue, skills, last_agent)
