"""A webhook receiver on loopback for the tests: it fails when told to and records everything."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers `fail_status` to the first `fail_first` requests (all, if None), then 200."""

    fail_first: int | None = 0
    fail_status: int = 503
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    url: str = ""

    async def hook(self, request: Request) -> PlainTextResponse:
        self.received.append(
            Received(time.monotonic(), dict(request.headers), await request.body())
        )
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        failing = self.fail_first is None or len(self.received) <= self.fail_first
        return PlainTextResponse("no" if failing else "ok", self.fail_status if failing else 200)

    def deliveries(self) -> dict[str, int]:
        """Successful requests per delivery id."""
        counts: dict[str, int] = {}
        for i, got in enumerate(self.received, start=1):
            ok = not (self.fail_first is None or i <= self.fail_first)
            if ok:
                key = got.headers["x-progress-sse-delivery"]
                counts[key] = counts.get(key, 0) + 1
        return counts


@contextlib.asynccontextmanager
async def receiving(receiver: Receiver, port: int = 0) -> AsyncIterator[Receiver]:
    app = Starlette(routes=[Route("/hook", receiver.hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert server.started, "receiver did not start"
    bound = server.servers[0].sockets[0].getsockname()[1]
    receiver.url = f"http://127.0.0.1:{bound}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
