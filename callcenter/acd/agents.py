"""An agent's state: an explicit machine, every change timestamped for reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from callcenter.acd.roster import AgentConfig
from callcenter.errors import CallCenterError


class AgentState(enum.Enum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"  # reserved for one caller; the seat is ringing
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"  # after-call work, seconds per queue
    PAUSED = "paused"  # with a reason: break, training, after-call work, no answer


class AcdError(CallCenterError):
    title = "Agent or queue error"


class UnknownAgent(AcdError):
    title = "No such agent"


class IllegalAgentTransition(AcdError):
    title = "Illegal agent state change"


_ALLOWED: dict[AgentState, frozenset[AgentState]] = {
    AgentState.LOGGED_OUT: frozenset({AgentState.AVAILABLE, AgentState.PAUSED}),
    AgentState.AVAILABLE: frozenset({AgentState.RINGING, AgentState.PAUSED, AgentState.LOGGED_OUT}),
    # A ring ends answered, unanswered (the agent is paused) or cancelled.
    AgentState.RINGING: frozenset(
        {AgentState.ON_CALL, AgentState.PAUSED, AgentState.AVAILABLE, AgentState.LOGGED_OUT}
    ),
    AgentState.ON_CALL: frozenset({AgentState.WRAP_UP}),
    AgentState.WRAP_UP: frozenset({AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT}),
    AgentState.PAUSED: frozenset({AgentState.AVAILABLE, AgentState.LOGGED_OUT}),
}

# What agents (and supervisors) may ask for; the others belong to the ACD.
REQUESTABLE = frozenset({AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT})


@dataclass
class Agent:
    id: str
    config: AgentConfig
    state: AgentState = AgentState.LOGGED_OUT
    reason: str | None = None
    since: datetime | None = None
    # When the agent last became free: "longest idle" compares this.
    idle_since: datetime | None = None
    registered: bool = False  # the seat's softphone is registered
    calls_answered: int = 0
    call_id: str | None = field(default=None)  # the caller being rung or talked to

    def can_take_calls(self) -> bool:
        return self.state is AgentState.AVAILABLE and self.registered

    def move(self, state: AgentState, at: datetime, reason: str | None = None) -> None:
        if state is not self.state and state not in _ALLOWED[self.state]:
            raise IllegalAgentTransition(
                f"agent {self.id} cannot go from {self.state.value} to {state.value}"
            )
        self.state, self.reason, self.since = state, reason, at
        if state is AgentState.AVAILABLE:
            self.idle_since = at
        if state in (AgentState.AVAILABLE, AgentState.PAUSED, AgentState.LOGGED_OUT):
            self.call_id = None
