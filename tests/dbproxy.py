"""A cuttable TCP hop to PostgreSQL, for tests of what happens when it goes away."""

from __future__ import annotations

import asyncio

from sqlalchemy.engine import make_url


def at_port(database_url: str, port: int) -> str:
    """The same database URL on another local port."""
    return (
        make_url(database_url)
        .set(host="127.0.0.1", port=port)
        .render_as_string(hide_password=False)
    )


class DatabaseProxy:
    """A TCP hop between the service and PostgreSQL that a test can cut: open
    connections drop and new ones are refused, as when the database host goes away."""

    def __init__(self, database_url: str) -> None:
        self.url = database_url
        self.target = make_url(database_url)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()
        self.is_cut = False

    async def start(self) -> str:
        """Listen; the URL that reaches the database through this hop."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return at_port(self.url, self._server.sockets[0].getsockname()[1])

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.is_cut:
            client_w.close()
            return
        upstream_r, upstream_w = await asyncio.open_connection(
            self.target.host, self.target.port or 5432
        )
        if self.is_cut:  # cut while this connection was being made
            client_w.transport.abort()
            upstream_w.transport.abort()
            return
        self._open |= {client_w, upstream_w}
        for source, sink in ((client_r, upstream_w), (upstream_r, client_w)):
            pipe = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(pipe)
            pipe.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()
            self._open.discard(sink)

    def cut(self) -> None:
        self.is_cut = True
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def restore(self) -> None:
        self.is_cut = False

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
