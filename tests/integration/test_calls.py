"""Real SIPp calls to 12345 through Asterisk 22, answered by the service over ARI."""

from __future__ import annotations

from tests.integration.stack import closed_calls, sipp, timeline


async def test_call_is_answered_welcomed_and_recorded(service, db, caller_prefix):
    result = await sipp("caller_until_bye.xml", caller_prefix)
    assert result.returncode == 0, result.output

    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["caller_number"] == caller_prefix + "1"
    assert call["dialled_number"] == "12345"
    assert call["channel_name"].startswith("PJSIP/citizen-trunk-")
    assert call["linkedid"] == call["channel_id"]
    assert call["started_at"] <= call["answered_at"] < call["ended_at"]
    assert call["disposition"] == "completed"
    assert call["last_stage"] == "simple/bye"  # the flow's hang-up node
    assert call["hangup_cause"] == 16

    kinds = [kind for kind, _ in await timeline(db, call["id"])]
    assert kinds[0] == "StasisStart"
    assert kinds[-1] == "StasisEnd"
    assert kinds.index("ChannelStateChange") < kinds.index("PlaybackStarted")
    assert kinds.index("PlaybackStarted") < kinds.index("PlaybackFinished")
    finished = dict(await timeline(db, call["id"]))["PlaybackFinished"]
    assert finished["state"] == "done"  # the whole welcome prompt was played
    assert finished["media"] == "sound:/hotline/prompts/zh/welcome"


async def test_twenty_concurrent_calls_give_twenty_correct_rows(service, db, caller_prefix):
    result = await sipp("caller_until_bye.xml", caller_prefix, calls=20, rate=50)
    assert result.returncode == 0, result.output

    calls = await closed_calls(db, caller_prefix, 20)
    assert len(calls) == 20
    assert {c["caller_number"] for c in calls} == {f"{caller_prefix}{n}" for n in range(1, 21)}
    assert len({c["channel_id"] for c in calls}) == 20
    for call in calls:
        assert call["disposition"] == "completed"
        assert call["answered_at"] is not None
        kinds = [kind for kind, _ in await timeline(db, call["id"])]
        assert kinds.count("StasisStart") == 1
        assert kinds.count("StasisEnd") == 1


async def test_caller_hanging_up_during_the_prompt_is_recorded_as_abandoned(
    service, db, caller_prefix
):
    result = await sipp("caller_hangs_up.xml", caller_prefix, hangup_after_ms=2000)
    assert result.returncode == 0, result.output

    [call] = await closed_calls(db, caller_prefix, 1)
    assert call["disposition"] == "abandoned"
    assert call["last_stage"] == "simple/welcome"
    assert call["hangup_cause"] == 16
    assert call["answered_at"] is not None
    events = await timeline(db, call["id"])
    kinds = [kind for kind, _ in events]
    assert "caller_left" in kinds
    hangup = dict(events)["ChannelHangupRequest"]
    assert hangup["soft"] is False  # the caller's BYE, not ours
    assert dict(events)["PlaybackFinished"]["state"] != "done"


async def test_health_metrics_and_openapi(service):
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get("http://127.0.0.1:8080/healthz") as resp:
            assert resp.status == 200
            health = await resp.json()
        async with http.get("http://127.0.0.1:8080/metrics") as resp:
            assert resp.status == 200
            metrics = await resp.text()
        async with http.get("http://127.0.0.1:8080/api/openapi.json") as resp:
            assert resp.status == 200
            doc = await resp.json()
        async with http.get("http://127.0.0.1:8080/api/v1/nothing-here") as resp:
            assert resp.status == 404
            assert resp.content_type == "application/problem+json"
    assert health["status"] == "ok"
    assert health["ari"]["connected"] is True
    assert health["database"]["ok"] is True
    assert "hotline_ari_connected 1.0" in metrics
    assert "hotline_calls_started_total" in metrics
    assert {"/healthz", "/metrics", "/api/openapi.json"} <= set(doc["paths"])
