"""What decoding ARI events costs, before and after orjson + fromisoformat.

A realistic IVR call's event stream (StasisStart, our variable echoed back, the
answer, a welcome and a menu prompt, a key, a third prompt, the hang-up:
13 WebSocket messages in Asterisk 22's JSON, Chinese caller name included) is
decoded many times over, in this process, by:

- baseline: ``json.loads`` + the previous parser (``strptime`` on every
  timestamp, events built from keyword dicts), as the service did before;
- new: ``callcenter.ari.events.decode_event`` (orjson, ``fromisoformat``,
  positional construction), as the service does now.

The two are checked to give equal events first. Prints µs per event for each and
the ratio new/baseline (lower is better), plus the two levers on their own.
Usage:

    .venv/bin/python bench/bench_ari_events.py [CALLS]
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from callcenter.ari import EventRouter, Inbox
from callcenter.ari.events import (
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelVarset,
    Event,
    Playback,
    PlaybackFinished,
    PlaybackStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    decode_event,
)

Json = dict[str, Any]
STAMP = "2026-12-01T17:24:08.{ms:03d}+0000"


def _channel(channel_id: str, state: str) -> Json:
    return {
        "id": channel_id,
        "name": "PJSIP/citizen-trunk-0000002a",
        "state": state,
        "protocol_id": "a84d2f0e-5c1b-4e0a@127.0.0.1",
        "caller": {"name": "张三", "number": "13800138000"},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {
            "context": "from-citizens",
            "exten": "12345",
            "priority": 2,
            "app_name": "Stasis",
            "app_data": "hotline,inbound",
        },
        "creationtime": "2026-12-01T17:24:07.870+0000",
        "language": "zh",
        "linkedid": "1764609847.40",
    }


def call_stream(n: int) -> list[str]:
    """One IVR call's WebSocket messages, as text."""
    cid = f"1764609847.{n}"
    msgs: list[Json] = []

    def add(event_type: str, **fields: Any) -> None:
        msgs.append(
            {
                "type": event_type,
                "timestamp": STAMP.format(ms=len(msgs) * 37 % 1000),
                "asterisk_id": "52:54:00:12:34:56",
                "application": "hotline",
                **fields,
            }
        )

    add("StasisStart", channel=_channel(cid, "Ring"), args=["inbound"])
    add("ChannelVarset", channel=_channel(cid, "Ring"), variable="HOTLINE_CALL_ID", value="x")
    add("ChannelStateChange", channel=_channel(cid, "Up"))
    for i, media in enumerate(("welcome", "main_menu", "goodbye")):
        playback = {
            "id": f"pb-{n}-{i}",
            "media_uri": f"sound:/hotline/prompts/zh/{media}",
            "next_media_uri": "",
            "target_uri": f"channel:{cid}",
            "language": "zh",
            "state": "playing",
        }
        add("PlaybackStarted", playback=playback)
        if media == "main_menu":
            add("ChannelDtmfReceived", channel=_channel(cid, "Up"), digit="1", duration_ms=120)
        add("PlaybackFinished", playback={**playback, "state": "done"})
    add("ChannelHangupRequest", channel=_channel(cid, "Up"), cause=16)
    add("StasisEnd", channel=_channel(cid, "Up"))
    add("ChannelDestroyed", channel=_channel(cid, "Up"), cause=16, cause_txt="Normal Clearing")
    return [json.dumps(m, ensure_ascii=False) for m in msgs]


# --- the previous decoder, kept here as the baseline ---------------------------------
def old_timestamp(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return datetime.fromisoformat(value)


def old_channel(data: Json) -> Channel:
    caller = data.get("caller") or {}
    dialplan = data.get("dialplan") or {}
    return Channel(
        id=data.get("id", ""),
        name=data.get("name", ""),
        state=data.get("state", ""),
        caller_number=caller.get("number", ""),
        caller_name=caller.get("name", ""),
        exten=dialplan.get("exten", ""),
        context=dialplan.get("context", ""),
        linkedid=data.get("linkedid") or data.get("id", ""),
        language=data.get("language", ""),
        creationtime=old_timestamp(data["creationtime"]) if data.get("creationtime") else None,
        app_name=dialplan.get("app_name", ""),
        app_data=dialplan.get("app_data", ""),
    )


def _common(d: Json) -> Json:
    return {
        "type": d.get("type", ""),
        "application": d.get("application", ""),
        "timestamp": old_timestamp(d.get("timestamp")),
        "raw": d,
    }


def _ch(d: Json) -> Json:
    return {"channel": old_channel(d.get("channel") or {})}


def _pb(d: Json) -> Playback:
    return Playback.from_json(d.get("playback") or {})


OLD: dict[str, Callable[[Json], Event]] = {
    "StasisStart": lambda d: StasisStart(
        **_common(d), **_ch(d), args=tuple(d.get("args", ())), replace_channel=None
    ),
    "ChannelVarset": lambda d: ChannelVarset(
        **_common(d), **_ch(d), variable=d.get("variable", ""), value=d.get("value", "")
    ),
    "ChannelStateChange": lambda d: ChannelStateChange(**_common(d), **_ch(d)),
    "StasisEnd": lambda d: StasisEnd(**_common(d), **_ch(d)),
    "ChannelDtmfReceived": lambda d: ChannelDtmfReceived(
        **_common(d), **_ch(d), digit=d.get("digit", ""), duration_ms=d.get("duration_ms", 0)
    ),
    "ChannelHangupRequest": lambda d: ChannelHangupRequest(
        **_common(d), **_ch(d), cause=d.get("cause"), soft=bool(d.get("soft", False))
    ),
    "ChannelDestroyed": lambda d: ChannelDestroyed(
        **_common(d), **_ch(d), cause=d.get("cause"), cause_txt=d.get("cause_txt", "")
    ),
    "PlaybackStarted": lambda d: PlaybackStarted(**_common(d), playback=_pb(d)),
    "PlaybackFinished": lambda d: PlaybackFinished(**_common(d), playback=_pb(d)),
}


def old_decode(text: str) -> Event:
    data = json.loads(text)
    parser = OLD.get(data.get("type", ""))
    return parser(data) if parser else UnknownEvent(**_common(data))


# --- timing -------------------------------------------------------------------------
def fastest(rounds: int, cases: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Each case's fastest run; the cases take turns every round, so a busy moment
    on the machine hits them alike. The collector is off while one runs, so no
    case pays for another's garbage."""
    best = dict.fromkeys(cases, float("inf"))
    for _ in range(rounds):
        for name, work in cases.items():
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                work()
                best[name] = min(best[name], time.perf_counter() - start)
            finally:
                gc.enable()
    return best


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    stream = [m for n in range(calls) for m in call_stream(n)]
    for text in stream[:13]:  # same events from both, or the comparison means nothing
        assert old_decode(text) == decode_event(text), text
        assert old_decode(text).timestamp == decode_event(text).timestamp
    events = len(stream)
    stamps = [orjson.loads(t)["timestamp"] for t in stream]
    cases: dict[str, Callable[[], object]] = {
        "baseline (json + strptime + kwargs)": lambda: [old_decode(t) for t in stream],
        "new (orjson + fromisoformat)": lambda: [decode_event(t) for t in stream],
        "json.loads alone": lambda: [json.loads(t) for t in stream],
        "orjson.loads alone": lambda: [orjson.loads(t) for t in stream],
        "strptime alone": lambda: [old_timestamp(s) for s in stamps],
        "fromisoformat alone": lambda: [datetime.fromisoformat(s) for s in stamps],
    }
    times = fastest(7, cases)
    print(f"{calls} calls, {events} ARI events ({events // calls} a call), fastest of 7 runs")
    for name, seconds in times.items():
        print(f"  {name:38s} {seconds / events * 1e6:7.2f} µs/event")
    names = list(times)
    for new, old in ((1, 0), (3, 2), (5, 4)):
        print(f"ratio {names[new]} / {names[old]}: {times[names[new]] / times[names[old]]:.2f}")
    per_call_old = times[names[0]] / calls * 1e3
    per_call_new = times[names[1]] / calls * 1e3
    print(f"decoding per call: {per_call_old:.3f} ms -> {per_call_new:.3f} ms")
    decoded = [decode_event(t) for t in stream]
    routed = asyncio.run(route(decoded))
    print(f"then router + inbox (dispatch, get): {routed / events * 1e6:.2f} µs/event")


async def route(events: list[Event]) -> float:
    """Seconds to hand ``events`` through the router to their calls' inboxes and
    read them back, as the reader task and the calls do."""
    router = EventRouter()
    for key in {k for e in events for k in e.route_keys()}:
        router.register(Inbox(key, maxsize=len(events)))
    gc.collect()
    start = time.perf_counter()
    for event in events:
        router.dispatch(event)
    for key in router.keys():
        inbox = router.inbox(key)
        assert inbox is not None
        while inbox.pending():
            await inbox.get()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
