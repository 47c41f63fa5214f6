"""A lean `text/event-stream` response: one task per stream, the server's own.

sse-starlette gives every stream a task group of four tasks and a cancel
scope around every chunk; with thousands of watchers that machinery, not the
bytes, was the cost (bench/RESULTS.md). Here a stream is its request task
plus a `Connection` that the hub can write to in place (`write_now`), which
hears of the client leaving without a task of its own (`eager.drive`). The
bytes on the wire are the contract's (runs/events.py); only the machinery changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from progress_sse.streaming.eager import Driven, run_eagerly
from progress_sse.streaming.wake import Wake

HEADERS = {
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
}


class Connection:
    """One client's stream: awaited writes, writes in place, and notice of disconnection."""

    __slots__ = ("_pending", "_receiving", "_send", "disconnected", "last_write", "wake")

    def __init__(self, send: Send, receive: Receive) -> None:
        self._send = send
        self.last_write = time.monotonic()
        self.disconnected = False
        self.wake = Wake()  # set when the client leaves; the stream's subscriber shares it
        self._pending: asyncio.Future[None] | None = None
        self._receiving: Driven | None = None
        try:
            self._receiving = run_eagerly(_until_disconnect(receive), self._gone)
        except Exception as exc:
            self._gone(exc)
        else:
            if self._receiving is None:
                self._gone()  # the client had left already

    def _gone(self, _error: BaseException | None = None) -> None:
        self.disconnected = True
        self.wake.set()

    @property
    def busy(self) -> bool:
        """A write started in place has not finished yet (flow control paused it)."""
        return self._pending is not None

    async def settled(self) -> None:
        """Wait for a write started in place to finish, so bytes stay in order."""
        while self._pending is not None:
            await self._pending

    async def write(self, body: bytes) -> None:
        await self.settled()
        self.last_write = time.monotonic()
        await self._send(_chunk(body))

    def write_now(self, body: bytes) -> bool:
        """Write without waiting; False if the write had to wait (see `settled`)."""
        if self._pending is not None or self.disconnected:
            return False
        self.last_write = time.monotonic()
        try:
            sending = run_eagerly(self._send(_chunk(body)), self._written)
        except Exception as exc:
            self._gone(exc)
            return False
        if sending is None:
            return True
        self._pending = asyncio.get_running_loop().create_future()
        return False

    def _written(self, error: BaseException | None) -> None:
        pending, self._pending = self._pending, None
        if error is not None:
            self._gone(error)
        if pending is not None and not pending.done():
            pending.set_result(None)

    def close(self) -> None:
        if self._receiving is not None:
            self._receiving.close()


def _chunk(body: bytes) -> Message:
    return {"type": "http.response.body", "body": body, "more_body": True}


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


Body = Callable[[Connection], Awaitable[None]]
_RAW_HEADERS = [
    (name.lower().encode("latin-1"), value.encode("latin-1"))
    for name, value in {**HEADERS, "Content-Type": "text/event-stream; charset=utf-8"}.items()
]

# Scope key under which the app's outermost layer (web/streamfront.py) puts the
# server's own `send`. Each middleware wraps `send` in one more coroutine; a stream
# writes a chunk per event per watcher, so those layers were a third of the cost of a
# live event. No middleware of this app transforms response bodies.
SERVER_SEND = "progress_sse.server_send"


class EventStream(Response):
    """Writes `body(connection)`'s frames, then ends the response; `on_close` always runs."""

    media_type = "text/event-stream"

    def __init__(
        self, body: Body, *, on_close: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        super().__init__(status_code=200)
        self._body = body
        self._on_close = on_close

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        """The stream's fixed headers (no Content-Length: the body has no end in sight).

        The header pairs are encoded once per process and shared; the list is
        not (middleware may append to it).
        """
        self.raw_headers = list(_RAW_HEADERS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            # Body chunks skip the middleware's send wrappers, which only watch the start
            # message (status for the access log, "response started" for error pages).
            connection = Connection(scope.get(SERVER_SEND, send), receive)
            try:
                await self._body(connection)
                await connection.settled()
            finally:
                connection.close()
            if not connection.disconnected:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            if self._on_close is not None:
                await self._on_close()
