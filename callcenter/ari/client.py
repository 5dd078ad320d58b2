"""REST half of the ARI client: one aiohttp session, errors mapped to classes.

One keep-alive connection pool serves every request (no ``Connection: close``),
replies are decoded with orjson and returned as typed objects, and each round
trip can be reported to an observer under its path template (``/channels/{id}``),
never under a raw id, so a latency histogram keeps a bounded set of labels.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from callcenter.ari.errors import AriNotFound, AriUnavailable, http_error
from callcenter.ari.events import Bridge, Channel, LiveRecording, Playback
from callcenter.ari.models import Endpoint, StoredRecording

# (HTTP method, path template, seconds) of one answered or failed round trip.
RequestObserver = Callable[[str, str, float], None]


@dataclass(frozen=True, slots=True)
class AriSettings:
    """Where Asterisk's ARI is and who we are to it."""

    url: str  # e.g. http://127.0.0.1:8088
    username: str
    password: str
    app: str
    request_timeout: float = 10.0
    reconnect_min_delay: float = 0.2
    reconnect_max_delay: float = 5.0
    # Below Asterisk's 15 s idle limit, so an idle link is never cut.
    heartbeat: float = 10.0


def _q(value: str) -> str:
    return quote(value, safe="")


class AriClient:
    """REST calls to ARI (implements :class:`~callcenter.ari.port.AriPort`).

    Open with ``async with`` (or ``start``/``close``). ``observe`` sees every
    round trip as (method, path template, seconds).
    """

    def __init__(self, settings: AriSettings, observe: RequestObserver | None = None) -> None:
        self.settings = settings
        self.observe = observe
        self._base = f"{settings.url.rstrip('/')}/ari"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={
                    "Authorization": _basic_auth(self.settings.username, self.settings.password)
                },
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout),
                # HTTP/1.1 keep-alive (aiohttp never sends Connection: close unless
                # force_close): idle connections are kept shorter than Asterisk's
                # own session timeout, so a kept one is never already closed.
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=10),
                json_serialize=_dumps,
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> AriClient:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("AriClient used before start()")
        return self._session

    def events_url(self) -> str:
        base = self.settings.url.rstrip("/").replace("http", "ws", 1)
        return f"{base}/ari/events?app={_q(self.settings.app)}&subscribeAll=false"

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        template: str | None = None,
    ) -> Any:
        """Send one request; return decoded JSON (or None); raise by status.

        ``template`` names the path for the observer (``/channels/{id}``); it
        defaults to ``path`` itself, which is right only for paths without ids.
        """
        clean = {k: _param(v) for k, v in params.items() if v is not None} if params else None
        started = time.perf_counter()
        try:
            async with self.session.request(
                method, self._base + path, params=clean, json=json
            ) as resp:
                body = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise AriUnavailable(f"{method} {path}: {exc!r}") from exc
        finally:
            if self.observe is not None:
                self.observe(method, template or path, time.perf_counter() - started)
        if status >= 400:
            raise http_error(status, method, path, _error_message(body))
        return orjson.loads(body) if body else None

    # Channels -------------------------------------------------------------
    async def list_channels(self) -> list[Channel]:
        data = await self.request("GET", "/channels")
        return [Channel.from_json(c) for c in data or ()]

    async def get_channel(self, channel_id: str) -> Channel:
        data = await self.request("GET", f"/channels/{_q(channel_id)}", template="/channels/{id}")
        return Channel.from_json(data or {})

    async def answer(self, channel_id: str) -> None:
        await self.request(
            "POST", f"/channels/{_q(channel_id)}/answer", template="/channels/{id}/answer"
        )

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request(
            "DELETE",
            f"/channels/{_q(channel_id)}",
            params={"reason": reason},
            template="/channels/{id}",
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/continue",
            params={
                "context": context,
                "extension": extension,
                "priority": priority,
                "label": label,
            },
            template="/channels/{id}/continue",
        )

    async def play(
        self, channel_id: str, playback_id: str, media: str | list[str], lang: str | None = None
    ) -> Playback:
        """Start a playback whose id we chose, so its events can be matched."""
        media_param = media if isinstance(media, str) else ",".join(media)
        data = await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/play/{_q(playback_id)}",
            params={"media": media_param, "lang": lang},
            template="/channels/{id}/play/{playback}",
        )
        return Playback.from_json(data or {"id": playback_id})

    async def transfer_progress(self, channel_id: str, state: str) -> None:
        """Tell a transferring phone how its transfer goes (channel_answered, ...)."""
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/transfer_progress",
            params={"states": state},
            template="/channels/{id}/transfer_progress",
        )

    async def snoop(
        self,
        channel_id: str,
        snoop_id: str,
        *,
        app: str,
        spy: str = "both",
        whisper: str = "none",
        app_args: str | None = None,
    ) -> Channel:
        """A snoop channel on ``channel_id`` (listen: spy, whisper: speak into it)."""
        data = await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/snoop/{_q(snoop_id)}",
            params={"spy": spy, "whisper": whisper, "app": app, "appArgs": app_args},
            template="/channels/{id}/snoop/{snoop}",
        )
        return Channel.from_json(data or {"id": snoop_id})

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_q(playback_id)}", template="/playbacks/{id}")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/variable",
            params={"variable": name, "value": value},
            template="/channels/{id}/variable",
        )

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        """The variable's value, or None when unset."""
        try:
            data = await self.request(
                "GET",
                f"/channels/{_q(channel_id)}/variable",
                params={"variable": name},
                template="/channels/{id}/variable",
            )
        except AriNotFound as exc:
            # 404 means either "no such channel" or "no such variable".
            if "channel" in exc.message.lower():
                raise
            return None
        value = (data or {}).get("value")
        return None if value is None else str(value)

    async def create_channel(
        self,
        channel_id: str,
        endpoint: str,
        *,
        app: str,
        app_args: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
    ) -> Channel:
        """Create (not dial) an outgoing channel with our id, already in ``app``."""
        data = await self.request(
            "POST",
            "/channels/create",
            params={
                "endpoint": endpoint,
                "app": app,
                "appArgs": app_args,
                "channelId": channel_id,
                "originator": originator,
                "formats": formats,
            },
        )
        return Channel.from_json(data or {"id": channel_id})

    async def dial(
        self, channel_id: str, caller: str | None = None, timeout: int | None = None
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/dial",
            params={"caller": caller, "timeout": timeout},
            template="/channels/{id}/dial",
        )

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/moh",
            params={"mohClass": moh_class},
            template="/channels/{id}/moh",
        )

    async def stop_moh(self, channel_id: str) -> None:
        await self.request(
            "DELETE", f"/channels/{_q(channel_id)}/moh", template="/channels/{id}/moh"
        )

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_seconds: int = 0,
        max_silence_seconds: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
        if_exists: str = "fail",
    ) -> LiveRecording:
        """Record a channel into Asterisk's recording spool as ``name.fmt``."""
        data = await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/record",
            params={
                "name": name,
                "format": fmt,
                "maxDurationSeconds": max_seconds,
                "maxSilenceSeconds": max_silence_seconds,
                "beep": beep,
                "terminateOn": terminate_on,
                "ifExists": if_exists,
            },
            template="/channels/{id}/record",
        )
        return LiveRecording.from_json(data or {"name": name, "format": fmt})

    # Recordings -----------------------------------------------------------
    async def stored_recording(self, name: str) -> StoredRecording:
        data = await self.request(
            "GET", f"/recordings/stored/{_q(name)}", template="/recordings/stored/{name}"
        )
        return StoredRecording.from_json(data or {"name": name})

    async def stored_recording_file(self, name: str) -> bytes:
        """The recording's bytes, wherever Asterisk keeps them."""
        path = f"/recordings/stored/{_q(name)}/file"
        started = time.perf_counter()
        try:
            async with self.session.get(self._base + path) as resp:
                body = await resp.read()
                status = resp.status
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(f"GET {path}: {exc!r}") from exc
        finally:
            if self.observe is not None:
                self.observe("GET", "/recordings/stored/{name}/file", time.perf_counter() - started)
        if status >= 400:
            raise http_error(status, "GET", path, _error_message(body))
        return body

    async def delete_stored_recording(self, name: str) -> None:
        await self.request(
            "DELETE", f"/recordings/stored/{_q(name)}", template="/recordings/stored/{name}"
        )

    # Bridges --------------------------------------------------------------
    async def list_bridges(self) -> list[Bridge]:
        data = await self.request("GET", "/bridges")
        return [Bridge.from_json(b) for b in data or ()]

    async def create_bridge(
        self, bridge_id: str, bridge_type: str = "mixing", name: str | None = None
    ) -> Bridge:
        data = await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}",
            params={"type": bridge_type, "name": name},
            template="/bridges/{id}",
        )
        return Bridge.from_json(data or {"id": bridge_id, "bridge_type": bridge_type})

    async def delete_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}", template="/bridges/{id}")

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}/removeChannel",
            params={"channel": channel_id},
            template="/bridges/{id}/removeChannel",
        )

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}/moh",
            params={"mohClass": moh_class},
            template="/bridges/{id}/moh",
        )

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> LiveRecording:
        """Record the mixed conversation of a bridge as ``name.fmt`` in the spool."""
        data = await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}/record",
            params={"name": name, "format": fmt, "ifExists": "overwrite"},
            template="/bridges/{id}/record",
        )
        return LiveRecording.from_json(data or {"name": name, "format": fmt})

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}/addChannel",
            params={"channel": channel_id},
            template="/bridges/{id}/addChannel",
        )

    # Asterisk -------------------------------------------------------------
    async def reload_module(self, module: str) -> None:
        """Re-read a module's configuration (e.g. res_pjsip.so after new endpoints)."""
        await self.request(
            "PUT", f"/asterisk/modules/{_q(module)}", template="/asterisk/modules/{name}"
        )

    async def subscribe(self, event_source: str) -> None:
        """Subscribe our application to e.g. ``endpoint:PJSIP`` (registrations)."""
        await self.request(
            "POST",
            f"/applications/{_q(self.settings.app)}/subscription",
            params={"eventSource": event_source},
            template="/applications/{app}/subscription",
        )

    async def list_endpoints(self, technology: str) -> list[Endpoint]:
        data = await self.request(
            "GET", f"/endpoints/{_q(technology)}", template="/endpoints/{tech}"
        )
        return [Endpoint.from_json(e) for e in data or ()]

    async def asterisk_info(self) -> dict[str, Any]:
        data: dict[str, Any] = await self.request("GET", "/asterisk/info")
        return data


def _basic_auth(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
        if isinstance(data, dict) and "message" in data:
            return str(data["message"])
    except orjson.JSONDecodeError:
        pass
    return body.decode("utf-8", "replace").strip()[:200]
