"""The uvicorn internals `httpguard.py` builds on: if uvicorn changes them, this fails loudly."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections import deque
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from progress_sse.settings import Settings
from progress_sse.web.httpguard import PROTOCOL, GuardedHttpToolsProtocol
from progress_sse.web.serving import uvicorn_options


def test_the_overridden_protocol_methods_still_exist_with_their_signatures() -> None:
    expected = {
        "connection_made": ["self", "transport"],
        "connection_lost": ["self", "exc"],
        "on_message_begin": ["self"],
        "on_headers_complete": ["self"],
    }
    for name, parameters in expected.items():
        method = getattr(HttpToolsProtocol, name)
        assert list(inspect.signature(method).parameters) == parameters, name
    assert issubclass(GuardedHttpToolsProtocol, HttpToolsProtocol)


def test_uvicorn_loads_the_guarded_protocol_from_the_serve_options() -> None:
    options = uvicorn_options(Settings(max_connections=500, timeout_keep_alive_s=3))
    config = Config(app=lambda *_: None, **options)
    config.load()
    assert config.http_protocol_class is GuardedHttpToolsProtocol
    assert (config.limit_concurrency, config.timeout_keep_alive) == (500, 3)
    assert PROTOCOL == "progress_sse.web.httpguard:GuardedHttpToolsProtocol"


# -- a lighter connection: uvicorn's deque and Events replaced ---------------------------

BIG = 8 * 1024 * 1024  # more than the kernel and the transport buffer: flow control pauses


def _left_heavy(obj: object) -> list[str]:
    """Attributes still holding a `deque` or an `asyncio.Event` (what the guard replaces)."""
    return [k for k, v in vars(obj).items() if isinstance(v, (deque, asyncio.Event))]


@contextlib.asynccontextmanager
async def guarded_server(app: ASGIApp) -> AsyncIterator[tuple[uvicorn.Server, int]]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=PROTOCOL, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(1000):  # bounded: 10 s
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "server did not start"
        yield server, server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_a_connection_keeps_no_deque_or_event_and_still_serves_pipelined_requests() -> None:
    heavy: list[str] = []
    servers: list[uvicorn.Server] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = b""
        while True:  # the request's body, through the replaced message event
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        for protocol in servers[0].server_state.connections:
            assert isinstance(protocol, GuardedHttpToolsProtocol)
            for part in (protocol, protocol.flow, protocol.cycle):
                heavy.extend(f"{type(part).__name__}.{name}" for name in _left_heavy(part))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"got " + body})

    async with guarded_server(app) as (server, port):
        servers.append(server)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s"
        writer.write(request % (3, b"one") + request % (3, b"two"))  # pipelined
        answers = b""
        async with asyncio.timeout(10):
            while answers.count(b"got ") < 2:
                answers += await reader.read(65536)
        writer.close()
    assert b"got one" in answers and b"got two" in answers
    assert answers.index(b"got one") < answers.index(b"got two")
    assert heavy == []


async def test_a_slow_reader_pauses_writes_and_gets_every_byte() -> None:
    paused: list[bool] = []
    servers: list[uvicorn.Server] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        chunk = b"x" * 65536
        for _ in range(BIG // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            paused.extend(p.flow.write_paused for p in servers[0].server_state.connections)
        await send({"type": "http.response.body", "body": b""})

    async with guarded_server(app) as (server, port):
        servers.append(server)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(30):
            for _ in range(3000):  # not reading: the server's writes pause
                if any(paused):
                    break
                await asyncio.sleep(0.01)
            assert any(paused), "flow control never paused the writes"
            received = 0
            while received < BIG:
                received += len(await reader.read(1 << 20))
        writer.close()
    assert received >= BIG
