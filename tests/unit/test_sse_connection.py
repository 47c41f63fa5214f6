"""The lean event-stream response: writes in place, flow control, disconnects, the end."""

from __future__ import annotations

import asyncio

import pytest
from starlette.types import Message

from progress_sse.streaming.sse import SERVER_SEND, Connection, EventStream


class FakeServer:
    """An ASGI server side: `send` waits while `paused`; `receive` ends on `leave()`."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.paused: asyncio.Future[None] | None = None
        self.left = asyncio.get_running_loop().create_future()
        self.requested = False

    async def send(self, message: Message) -> None:
        if self.paused is not None:
            await self.paused  # like uvicorn: wait for the transport to drain, then write
        self.sent.append(message)

    async def receive(self) -> Message:
        if not self.requested:
            self.requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.left
        return {"type": "http.disconnect"}

    def leave(self) -> None:
        self.left.set_result(None)

    def bodies(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def test_a_write_in_place_reaches_the_server_at_once() -> None:
    server = FakeServer()
    out = Connection(server.send, server.receive)
    assert out.write_now(b"data: 1\n\n") is True
    chunk = {"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True}
    assert server.sent == [chunk]
    out.close()


async def test_a_paused_transport_makes_the_write_pending_and_keeps_order() -> None:
    server = FakeServer()
    out = Connection(server.send, server.receive)
    server.paused = asyncio.get_running_loop().create_future()
    assert out.write_now(b"a") is False and out.busy
    assert out.write_now(b"b") is False  # refused: it would overtake `a`
    writing = asyncio.create_task(out.write(b"c"))  # the stream's own write waits for `a`
    await asyncio.sleep(0)
    assert server.bodies() == []
    server.paused.set_result(None)
    server.paused = None
    await writing
    assert server.bodies() == [b"a", b"c"] and not out.busy
    out.close()


async def test_a_client_that_leaves_is_noticed_without_a_task() -> None:
    server = FakeServer()
    out = Connection(server.send, server.receive)
    tasks_before = len(asyncio.all_tasks())
    assert not out.wake.is_set()
    server.leave()
    await asyncio.sleep(0)
    assert out.disconnected and out.wake.is_set(), "the stream's task is woken"
    assert len(asyncio.all_tasks()) == tasks_before
    assert out.write_now(b"late") is False and server.bodies() == []


async def test_the_stream_ends_the_response_and_always_runs_on_close() -> None:
    server = FakeServer()
    closed: list[bool] = []

    async def body(out: Connection) -> None:
        await out.write(b"retry: 3000\n\n")
        assert out.write_now(b"data: {}\n\n")

    async def on_close() -> None:
        closed.append(True)

    await EventStream(body, on_close=on_close)({"type": "http"}, server.receive, server.send)
    start, *rest = server.sent
    assert start["type"] == "http.response.start" and start["status"] == 200
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert headers[b"cache-control"] == b"no-cache"
    assert headers[b"x-accel-buffering"] == b"no"
    assert b"content-length" not in headers
    assert [m["body"] for m in rest] == [b"retry: 3000\n\n", b"data: {}\n\n", b""]
    assert rest[-1]["more_body"] is False and closed == [True]


async def test_on_close_runs_even_when_the_body_fails() -> None:
    server = FakeServer()
    closed: list[bool] = []

    async def body(_out: Connection) -> None:
        raise RuntimeError("database gone")

    async def on_close() -> None:
        closed.append(True)

    with pytest.raises(RuntimeError):
        await EventStream(body, on_close=on_close)({"type": "http"}, server.receive, server.send)
    assert closed == [True]


async def test_body_chunks_use_the_server_s_own_send_kept_in_the_scope() -> None:
    server = FakeServer()
    wrapped: list[str] = []

    async def middleware_send(message: Message) -> None:
        wrapped.append(message["type"])
        await server.send(message)

    async def body(out: Connection) -> None:
        await out.write(b"data: 1\n\n")

    # The app's outermost layer (web/streamfront.py) keeps it there for every request.
    scope = {"type": "http", SERVER_SEND: server.send}
    await EventStream(body)(scope, server.receive, middleware_send)
    # The start (and the end) pass through the middleware; body chunks go straight out.
    assert wrapped == ["http.response.start", "http.response.body"]
    assert server.bodies() == [b"data: 1\n\n", b""]
