"""REST half of the ARI client: one aiohttp session, errors mapped to classes."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from callcenter.ari.errors import AriNotFound, AriUnavailable, http_error


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
    """REST calls to ARI. Open with ``async with`` (or ``start``/``close``)."""

    def __init__(self, settings: AriSettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={
                    "Authorization": _basic_auth(self.settings.username, self.settings.password)
                },
                timeout=aiohttp.ClientTimeout(total=self.settings.request_timeout),
                # Keep-alive shorter than Asterisk's own session timeout.
                connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=10),
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
    ) -> Any:
        """Send one request; return decoded JSON (or None); raise by status."""
        url = f"{self.settings.url.rstrip('/')}/ari{path}"
        clean = {k: _param(v) for k, v in (params or {}).items() if v is not None}
        try:
            async with self.session.request(method, url, params=clean, json=json) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise http_error(resp.status, method, path, _error_message(body))
                if not body:
                    return None
                return await resp.json(content_type=None)
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise AriUnavailable(f"{method} {path}: {exc!r}") from exc

    # Channels -------------------------------------------------------------
    async def list_channels(self) -> list[dict[str, Any]]:
        return await self.request("GET", "/channels")

    async def get_channel(self, channel_id: str) -> dict[str, Any]:
        return await self.request("GET", f"/channels/{_q(channel_id)}")

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_q(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}", params={"reason": reason})

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
        )

    async def play(
        self, channel_id: str, playback_id: str, media: str | list[str], lang: str | None = None
    ) -> dict[str, Any]:
        """Start a playback whose id we chose, so its events can be matched."""
        media_param = media if isinstance(media, str) else ",".join(media)
        return await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/play/{_q(playback_id)}",
            params={"media": media_param, "lang": lang},
        )

    async def transfer_progress(self, channel_id: str, state: str) -> None:
        """Tell a transferring phone how its transfer goes (channel_answered, ...)."""
        await self.request(
            "POST", f"/channels/{_q(channel_id)}/transfer_progress", params={"states": state}
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
    ) -> dict[str, Any]:
        """A snoop channel on ``channel_id`` (listen: spy, whisper: speak into it)."""
        return await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/snoop/{_q(snoop_id)}",
            params={"spy": spy, "whisper": whisper, "app": app, "appArgs": app_args},
        )

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_q(playback_id)}")

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/variable",
            params={"variable": name, "value": value},
        )

    async def get_variable(self, channel_id: str, name: str) -> str | None:
        """The variable's value, or None when unset."""
        try:
            data = await self.request(
                "GET", f"/channels/{_q(channel_id)}/variable", params={"variable": name}
            )
        except AriNotFound as exc:
            # 404 means either "no such channel" or "no such variable".
            if "channel" in exc.message.lower():
                raise
            return None
        return (data or {}).get("value")

    async def create_channel(
        self,
        channel_id: str,
        endpoint: str,
        *,
        app: str,
        app_args: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
    ) -> dict[str, Any]:
        """Create (not dial) an outgoing channel with our id, already in ``app``."""
        return await self.request(
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

    async def dial(
        self, channel_id: str, caller: str | None = None, timeout: int | None = None
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_q(channel_id)}/dial",
            params={"caller": caller, "timeout": timeout},
        )

    async def start_moh(self, channel_id: str, moh_class: str | None = None) -> None:
        await self.request(
            "POST", f"/channels/{_q(channel_id)}/moh", params={"mohClass": moh_class}
        )

    async def stop_moh(self, channel_id: str) -> None:
        await self.request("DELETE", f"/channels/{_q(channel_id)}/moh")

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
    ) -> dict[str, Any]:
        """Record a channel into Asterisk's recording spool as ``name.fmt``."""
        return await self.request(
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
        )

    # Recordings -----------------------------------------------------------
    async def stored_recording(self, name: str) -> dict[str, Any]:
        return await self.request("GET", f"/recordings/stored/{_q(name)}")

    async def stored_recording_file(self, name: str) -> bytes:
        """The recording's bytes, wherever Asterisk keeps them."""
        url = f"{self.settings.url.rstrip('/')}/ari/recordings/stored/{_q(name)}/file"
        try:
            async with self.session.get(url) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise http_error(resp.status, "GET", url, _error_message(body))
                return body
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise AriUnavailable(f"GET {url}: {exc!r}") from exc

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{_q(name)}")

    # Bridges --------------------------------------------------------------
    async def list_bridges(self) -> list[dict[str, Any]]:
        return await self.request("GET", "/bridges")

    async def create_bridge(
        self, bridge_id: str, bridge_type: str = "mixing", name: str | None = None
    ) -> dict[str, Any]:
        return await self.request(
            "POST", f"/bridges/{_q(bridge_id)}", params={"type": bridge_type, "name": name}
        )

    async def delete_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_q(bridge_id)}")

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST", f"/bridges/{_q(bridge_id)}/removeChannel", params={"channel": channel_id}
        )

    async def start_bridge_moh(self, bridge_id: str, moh_class: str | None = None) -> None:
        await self.request("POST", f"/bridges/{_q(bridge_id)}/moh", params={"mohClass": moh_class})

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> dict[str, Any]:
        """Record the mixed conversation of a bridge as ``name.fmt`` in the spool."""
        return await self.request(
            "POST",
            f"/bridges/{_q(bridge_id)}/record",
            params={"name": name, "format": fmt, "ifExists": "overwrite"},
        )

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST", f"/bridges/{_q(bridge_id)}/addChannel", params={"channel": channel_id}
        )

    # Asterisk -------------------------------------------------------------
    async def reload_module(self, module: str) -> None:
        """Re-read a module's configuration (e.g. res_pjsip.so after new endpoints)."""
        await self.request("PUT", f"/asterisk/modules/{_q(module)}")

    async def subscribe(self, event_source: str) -> None:
        """Subscribe our application to e.g. ``endpoint:PJSIP`` (registrations)."""
        await self.request(
            "POST",
            f"/applications/{_q(self.settings.app)}/subscription",
            params={"eventSource": event_source},
        )

    async def list_endpoints(self, technology: str) -> list[dict[str, Any]]:
        return await self.request("GET", f"/endpoints/{_q(technology)}")

    async def asterisk_info(self) -> dict[str, Any]:
        return await self.request("GET", "/asterisk/info")


def _basic_auth(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _error_message(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
        if isinstance(data, dict) and "message" in data:
            return str(data["message"])
    except ValueError:
        pass
    return text[:200]
