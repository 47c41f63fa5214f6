"""A loopback TCP proxy a test can cut, like a dropped network, and that records event streams.

The browser talks to the proxy; the proxy forwards bytes to the real server. `cut()` closes
every open connection and refuses new ones until `heal()`. Connections that carry a request
for `/events` are recorded, so a test can check which event ids reached the browser and what
`Last-Event-ID` a reconnect sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

EVENTS_REQUEST = re.compile(rb"^GET /api/runs/[^ ]+/events", re.MULTILINE)
LAST_EVENT_ID = re.compile(rb"^last-event-id:\s*(\S+)\r?$", re.IGNORECASE | re.MULTILINE)


@dataclass
class Recorded:
    """One proxied connection: what the browser asked and what the server answered."""

    request: bytearray = field(default_factory=bytearray)
    response: bytearray = field(default_factory=bytearray)

    @property
    def is_event_stream(self) -> bool:
        """A browser may reuse a kept-alive connection, so any request on it may be the stream."""
        return EVENTS_REQUEST.search(bytes(self.request)) is not None

    @property
    def last_event_id(self) -> str | None:
        match = LAST_EVENT_ID.search(bytes(self.request))
        return match.group(1).decode() if match else None

    def event_ids(self) -> list[int]:
        """The ids of complete SSE frames delivered on this connection, in order."""
        start = bytes(self.response).lower().find(b"content-type: text/event-stream")
        if start < 0:
            return []
        _head, _, body = bytes(self.response)[start:].partition(b"\r\n\r\n")
        ids: list[int] = []
        for frame in dechunk(body).split("\n\n")[:-1]:  # the last piece is incomplete
            for line in frame.splitlines():
                if line.startswith("id:"):
                    ids.append(int(line[3:].strip()))
        return ids


def dechunk(body: bytes) -> str:
    """Decode an HTTP/1.1 chunked body, as far as it arrived."""
    out = bytearray()
    rest = body
    while rest:
        size_line, sep, rest = rest.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0 or len(rest) < size:
            out += rest[:size]
            break
        out += rest[:size]
        rest = rest[size + 2 :]
    return out.decode("utf-8", errors="replace").replace("\r\n", "\n")


class CuttableProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.refusing = False
        self.refused = 0
        self.connections: list[Recorded] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        assert isinstance(port, int)
        return port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def event_streams(self) -> list[Recorded]:
        return [c for c in self.connections if c.is_event_stream]

    def cut(self) -> None:
        """Drop every open connection and refuse new ones."""
        self.refusing = True
        for writer in list(self._writers):
            writer.transport.abort()

    def heal(self) -> None:
        self.refusing = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        record = Recorded()
        self.connections.append(record)
        self._writers.update((writer, up_writer))
        try:
            await asyncio.gather(
                _pump(reader, up_writer, record.request),
                _pump(up_reader, writer, record.response),
            )
        finally:
            for w in (writer, up_writer):
                self._writers.discard(w)
                w.transport.abort()

    async def __aenter__(self) -> CuttableProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), 5)


async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, log: bytearray) -> None:
    """Copy bytes one way until either side closes (the other direction is aborted then)."""
    try:
        while chunk := await src.read(65536):
            log += chunk
            dst.write(chunk)
            await dst.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        dst.transport.abort()


@contextlib.asynccontextmanager
async def cuttable(upstream_base_url: str) -> AsyncIterator[CuttableProxy]:
    port = int(upstream_base_url.rsplit(":", 1)[1])
    async with CuttableProxy(port) as proxy:
        yield proxy
