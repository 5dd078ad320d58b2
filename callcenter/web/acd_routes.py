"""Agents and queues over HTTP: states for the agent desktop and the wallboard."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.acd.agents import Agent, AgentState, UnknownAgent
from callcenter.acd.roster import AGENT_ID, SeatSecrets, load_roster
from callcenter.acd.seats import reload_pjsip, write_seats_conf
from callcenter.tickets.workflow import NotPermitted
from callcenter.users.roles import Role
from callcenter.web.auth import allowed
from callcenter.web.keys import ACD, ARI, CALLS, SETTINGS
from callcenter.web.openapi import documented
from callcenter.web.requests import parse_body
from callcenter.web.schemas import AgentOut, QueueOut, RosterReloaded

# Agents see the wallboard too; an agent changes only their own state (their
# user name is their agent id).
READERS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.OPS, Role.ADMIN})
STATE_CHANGERS = frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})
RELOADERS = frozenset({Role.OPS, Role.ADMIN})
AGENT_PATH = {"agent_id": Annotated[str, Field(pattern=AGENT_ID)]}


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["available", "paused", "logged_out"]
    reason: str | None = Field(None, max_length=64)


def _agent(agent: Agent) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.config.name,
        "seat": agent.config.seat,
        "state": agent.state.value,
        "reason": agent.reason,
        "since": agent.since.isoformat() if agent.since else None,
        "registered": agent.registered,
        # The call the agent is ringing for or talking on: the desktop's handle
        # for hold and transfer (POST /api/v1/calls/{call_id}/...).
        "call_id": agent.call_id
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL)
        else None,
        "calls_answered": agent.calls_answered,
        "skills": dict(agent.config.skills),
    }


@documented("Agents and their states", tags=("agents",), roles=READERS, response=list[AgentOut])
async def list_agents(request: web.Request) -> web.Response:
    await allowed(request, READERS, "read agents' states")
    acd = request.app[ACD]
    return web.json_response([_agent(a) for _, a in sorted(acd.agents.items())])


@documented(
    "One agent",
    tags=("agents",),
    roles=READERS,
    path=AGENT_PATH,
    response=AgentOut,
    responses={"200": {"description": "The agent"}, "404": {"description": "Unknown"}},
)
async def get_agent(request: web.Request) -> web.Response:
    await allowed(request, READERS, "read agents' states")
    agent = request.app[ACD].agents.get(request.match_info["agent_id"])
    if agent is None:
        raise UnknownAgent(f"no agent {request.match_info['agent_id']!r}")
    return web.json_response(_agent(agent))


@documented(
    "Log in, pause (with a reason) or log out an agent",
    tags=("agents",),
    roles=STATE_CHANGERS,
    path=AGENT_PATH,
    body=StateChange,
    response=AgentOut,
    responses={
        "200": {"description": "The agent's new state"},
        "404": {"description": "Unknown agent"},
        "409": {"description": "Not now (ringing or on a call)"},
        "400": {"description": "Invalid body; the field is named"},
        "403": {"description": "Another agent's state"},
    },
)
async def change_state(request: web.Request) -> web.Response:
    who = await allowed(request, STATE_CHANGERS, "change agents' states")
    agent_id = request.match_info["agent_id"]
    if who.role is Role.AGENT and who.name != agent_id:
        raise NotPermitted(f"agent {who.name} may change only their own state, not {agent_id}'s")
    body = await parse_body(request, StateChange)
    agent = request.app[ACD].request_state(agent_id, AgentState(body.state), body.reason)
    return web.json_response(_agent(agent))


@documented(
    "Re-read the roster; seats reach Asterisk without a restart "
    "(queues are reloaded with the IVR flows that use them: POST /api/v1/ivr/reload)",
    tags=("agents",),
    roles=RELOADERS,
    response=RosterReloaded,
    errors={503: "Asterisk is not reachable to reload the seats"},
)
async def reload(request: web.Request) -> web.Response:
    await allowed(request, RELOADERS, "reload the roster")
    settings = request.app[SETTINGS]
    roster = load_roster(settings.acd.roster)
    acd = request.app[ACD]
    acd.load_roster(roster)
    reloaded = False
    if settings.acd.seats_conf is not None:
        write_seats_conf(roster, SeatSecrets(settings.acd.seat_secrets), settings.acd.seats_conf)
        reloaded = await reload_pjsip(request.app[ARI])
    await request.app[CALLS].sync_registrations()
    return web.json_response({"agents": len(acd.agents), "pjsip_reloaded": reloaded})


@documented(
    "Queues: who waits, who serves", tags=("queues",), roles=READERS, response=dict[str, QueueOut]
)
async def list_queues(request: web.Request) -> web.Response:
    await allowed(request, READERS, "read the queues")
    acd = request.app[ACD]
    body = {}
    for name, queue in acd.queues.items():
        serving = [a for a in acd.agents.values() if name in a.config.skills]
        body[name] = {
            "title": queue.title,
            "strategy": queue.strategy,
            "waiting": [
                {
                    "position": acd.position(w),
                    "since": w.enqueued_at.isoformat(),
                    "priority": w.priority,
                }
                for w in acd.waiting(name)
            ],
            "agents": {s.value: sum(1 for a in serving if a.state is s) for s in AgentState},
        }
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/agents", list_agents)
    app.router.add_get("/api/v1/agents/{agent_id}", get_agent)
    app.router.add_post("/api/v1/agents/{agent_id}/state", change_state)
    app.router.add_post("/api/v1/agents/reload", reload)
    app.router.add_get("/api/v1/queues", list_queues)
