"""What a restarted service does with the calls a previous process left in Asterisk.

Asterisk keeps channels in Stasis when the application goes away, with
their bridges, music and recordings. The previous process's memory is gone,
but each caller's channel carries its journal (:mod:`callcenter.calls.journal`),
so the decision per caller is plain data, made here without any I/O:

- talking to an agent (the journal names the talk bridge): the conversation
  goes on untouched. The caller's new task rebuilds it around the same bridge,
  parties (the agent who answered, or whoever a transfer or a three-way call
  brought in) and recording, so hang-up, transfer and hold still work and the
  end writes the queue stay and the recording once;
- connected to a department by the IVR (a transfer node): the caller stays
  with the department, in the same bridge, until either hangs up;
- waiting in a queue: back in the queue with the same priority and time of
  arrival (so the same place), still in the holding bridge with its music;
- anywhere in the IVR: back at the flow's first node after its opening
  prompts (never the welcome again);
- agent legs and other legs whose caller is not taken over are hung up, and
  our bridges that nobody is left in are deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from callcenter.ari.events import Bridge, Channel
from callcenter.calls.journal import Journal
from callcenter.calls.legs import LEG_PREFIXES
from callcenter.ivr.flowset import FlowSet
from callcenter.ivr.schema import PlayNode

# How far the walk past opening prompts goes before it gives up (a loop of plays).
_MAX_WALK = 50


@dataclass(frozen=True, slots=True)
class Found:
    """A caller's channel of ours that no task owns, with what it carried."""

    channel: Channel
    call_id: uuid.UUID | None
    journal: Journal | None


@dataclass(frozen=True, slots=True)
class Adoption:
    """One caller to take over, and how."""

    channel: Channel
    call_id: uuid.UUID | None
    # Stage talk | transfer | queue | ivr, checked against what Asterisk has: for a
    # talk or a transfer, ``parties`` names the legs still in the bridge.
    journal: Journal
    on_hold: bool = False  # talking, but the caller was on hold (out of the bridge)

    @property
    def stage(self) -> str:
        return self.journal.stage


@dataclass
class Plan:
    # Talks and IVR transfers, then waiting (in order), then the IVR.
    adopt: list[Adoption] = field(default_factory=list)
    hang_up: list[str] = field(default_factory=list)  # legs nobody takes over
    delete: list[str] = field(default_factory=list)  # our bridges left with nobody
    on_call: dict[str, uuid.UUID | None] = field(default_factory=dict)  # agent → call

    def stages(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for a in self.adopt:
            counts[a.stage] = counts.get(a.stage, 0) + 1
        return counts


def as_channel(data: Channel | Mapping[str, Any]) -> Channel:
    """ARI's channel list, typed or not yet typed."""
    return data if isinstance(data, Channel) else Channel.from_json(dict(data))


def as_bridge(data: Bridge | Mapping[str, Any]) -> Bridge:
    return data if isinstance(data, Bridge) else Bridge.from_json(dict(data))


def is_leg(channel_id: str) -> bool:
    return channel_id.startswith(LEG_PREFIXES)


def plan(
    found: Iterable[Found],
    channels: Iterable[Channel],
    bridges: Iterable[Bridge],
    *,
    owned: set[str],
    bridge_prefix: str,
) -> Plan:
    """Decide what happens to every caller, leg and bridge of ours.

    ``found``: callers no task owns; ``channels``: every channel Asterisk has;
    ``owned``: channel ids this process already follows (its calls and legs:
    after a mere reconnection those go on as they are).
    """
    live = {c.id for c in channels}
    ours = [b for b in bridges if b.id.startswith(bridge_prefix)]
    by_id = {b.id: b for b in ours}
    result = Plan()
    kept_bridges: set[str] = set()
    kept_legs: set[str] = set()
    talks: list[Adoption] = []
    waiting: list[Adoption] = []
    ivr: list[Adoption] = []
    for f in found:
        journal = f.journal or Journal()
        if journal.stage in ("talk", "transfer") and journal.bridge in by_id:
            bridge = by_id[journal.bridge]
            # Every party still in the bridge: the agent who answered, or whoever
            # a transfer or a three-way call brought in (a department, an agent).
            parties = tuple(
                p for p in journal.talkers() if p.leg in live and p.leg in bridge.channels
            )
            leg = journal.leg if any(p.leg == journal.leg for p in parties) else None
            talks.append(
                Adoption(
                    f.channel,
                    f.call_id,
                    replace(journal, leg=leg, parties=parties),
                    on_hold=journal.stage == "talk" and f.channel.id not in bridge.channels,
                )
            )
            kept_bridges.add(bridge.id)
            for party in parties:
                kept_legs.add(party.leg)
                if party.agent:
                    result.on_call[party.agent] = f.call_id
        elif journal.stage in ("talk", "transfer"):
            # The bridge is gone (Asterisk deleted it?): nobody to talk to. The
            # conversation ends at once, which still writes its stay and recording.
            talks.append(Adoption(f.channel, f.call_id, replace(journal, leg=None, parties=())))
        elif journal.stage == "queue" and journal.queue and journal.enqueued_at:
            hold = journal.hold_bridge
            if hold in by_id and f.channel.id in by_id[hold].channels:
                kept_bridges.add(hold)
            else:
                journal = replace(journal, hold_bridge=None)
            waiting.append(Adoption(f.channel, f.call_id, journal))
        else:
            ivr.append(Adoption(f.channel, f.call_id, Journal(stage="ivr")))
    waiting.sort(key=_queue_order)
    result.adopt = [*talks, *waiting, *ivr]
    result.hang_up = sorted(
        c.id for c in channels if is_leg(c.id) and c.id not in owned and c.id not in kept_legs
    )
    gone = set(result.hang_up)
    for bridge in ours:
        if bridge.id in kept_bridges:
            continue
        if all(c not in live or c in gone for c in bridge.channels):
            result.delete.append(bridge.id)
    return result


def _queue_order(adoption: Adoption) -> tuple[int, datetime]:
    j = adoption.journal
    return (-j.priority, j.enqueued_at or datetime.max.replace(tzinfo=UTC))


def safe_node(flows: FlowSet, flow: str) -> str:
    """Where a caller taken over in the IVR resumes: the flow's ``resume`` node
    when it names one, else its first node after the opening prompts (the
    welcome), so branches (business hours) still run and the caller hears the
    menu, not the greeting, again."""
    configured = flows.flows[flow].resume
    if configured is not None and configured in flows.flows[flow].nodes:
        return configured
    nodes = flows.flows[flow].nodes
    node_id = flows.flows[flow].start
    for _ in range(_MAX_WALK):
        node = nodes[node_id]
        if not isinstance(node, PlayNode) or node.next is None:
            return node_id
        node_id = node.next
    return flows.flows[flow].start
