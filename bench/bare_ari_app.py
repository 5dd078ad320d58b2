"""The least an ARI app can do per call: answer, play the welcome prompt, wait.

bench/bench_calls.py runs it as the baseline for the service's Python cost:
one aiohttp session (kept-alive connections), events decoded with the
standard json module, no database. Usage:

    bare_ari_app.py ARI_URL USERNAME PASSWORD_FILE [APP] [MEDIA]
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from pathlib import Path

import aiohttp


async def on_start(http: aiohttp.ClientSession, url: str, channel: str, media: str) -> None:
    """Answer, then play; the caller hangs up (Asterisk ends the playback)."""
    try:
        async with http.post(f"{url}/ari/channels/{channel}/answer") as resp:
            if resp.status >= 300:
                return
        async with http.post(f"{url}/ari/channels/{channel}/play", params={"media": media}):
            pass
    except aiohttp.ClientError as exc:
        print(f"bare app: {channel}: {exc}", file=sys.stderr)


async def main(url: str, user: str, password: str, app: str, media: str) -> None:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    calls: set[asyncio.Task[None]] = set()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as http:
        ws_url = f"{url.replace('http', 'ws', 1)}/ari/events"
        async with http.ws_connect(ws_url, params={"app": app}, heartbeat=30) as ws:
            print("bare app: connected", flush=True)
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    break
                event = json.loads(msg.data)
                if event.get("type") == "StasisStart":
                    task = asyncio.create_task(on_start(http, url, event["channel"]["id"], media))
                    calls.add(task)
                    task.add_done_callback(calls.discard)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5, 6):
        sys.exit(__doc__)
    secret = Path(sys.argv[3]).read_text().strip()
    app_name = sys.argv[4] if len(sys.argv) > 4 else "bench-bare"
    sound = sys.argv[5] if len(sys.argv) > 5 else "sound:/hotline/prompts/zh/welcome"
    asyncio.run(main(sys.argv[1], sys.argv[2], secret, app_name, sound))
