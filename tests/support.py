"""Test helpers: a real uvicorn server on loopback, SSE collection, polling."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
import uvicorn
from httpx_sse import aconnect_sse
from starlette.applications import Starlette
from starlette.types import ASGIApp

from progress_sse.jobs.context import JobContext
from progress_sse.jobs.demo.models import DemoItem
from progress_sse.jobs.kinds import JobFn, JobKind
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.web.app import create_app
from progress_sse.web.security.auth import Role, create_key
from progress_sse.web.services import Services

Trip = Callable[[JobContext, dict[str, Any]], Awaitable[None]]


class Tripwire:
    """A job's context that calls `trip` after each progress report: a crash or a cancel
    injected from outside the job, at a point the job itself reports."""

    def __init__(self, ctx: JobContext, trip: Trip) -> None:
        self._ctx, self._trip = ctx, trip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)

    async def progress(self, **report: Any) -> None:
        await self._ctx.progress(**report)
        await self._trip(self._ctx, report)


def tripping(kind: JobKind, trip: Trip) -> JobKind:
    """`kind`, its job run with a `Tripwire` for a context."""
    job: JobFn = kind.run

    async def run(ctx: JobContext, params: Any) -> dict[str, Any] | None:
        return await job(Tripwire(ctx, trip), params)  # type: ignore[arg-type]

    return dataclasses.replace(kind, run=run)


@dataclass
class Server:
    app: Starlette
    base_url: str
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        svc = self.app.state.services
        assert isinstance(svc, Services)
        return svc

    def client(self, tenant: str = "acme", **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.keys[tenant]}"} if tenant else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30, **kwargs)


@contextlib.asynccontextmanager
async def run_server(
    settings: Settings, *, jobs: Iterable[JobKind] = (), keys: bool = True
) -> AsyncIterator[Server]:
    """uvicorn in this loop on a free loopback port (httpx's ASGI transport buffers bodies).

    `jobs` adds kinds to the installed ones; `srv.services.registry.replace(...)`
    swaps one for a faulty twin (see `tripping`).
    """
    app = create_app(settings, jobs=jobs)
    async with serving(app) as base_url:
        handle = Server(app=app, base_url=base_url)
        if keys:
            for tenant in ("acme", "globex"):
                handle.keys[tenant] = await create_key(handle.services.sessions, tenant, Role.ADMIN)
            handle.keys["acme-member"] = await create_key(
                handle.services.sessions, "acme", Role.MEMBER
            )
        yield handle


@contextlib.asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """Any ASGI app (a parent that mounts ours, say) on a free loopback port: its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
        access_log=False,  # as `serve` does: the app's own access log redacts queries
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(500):
        if server.started or task.done():
            break
        await asyncio.sleep(0.01)
    if task.done():
        task.result()
    assert server.started, "server did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@dataclass(frozen=True)
class Frame:
    id: str | None
    event: str
    data: dict[str, Any]

    @property
    def seq(self) -> int:
        return int(self.id) if self.id else -1


async def collect(
    client: httpx.AsyncClient,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    stop: Callable[[Frame], bool] | None = None,
    limit_s: float = 30,
) -> list[Frame]:
    """Read an event stream through httpx-sse until `end` (or `stop`), bounded in time."""
    frames: list[Frame] = []

    async def read() -> None:
        async for frame in sse_frames(client, url, headers=headers):
            frames.append(frame)
            if stop is not None and stop(frame):
                return

    await asyncio.wait_for(read(), limit_s)
    return frames


async def sse_frames(
    client: httpx.AsyncClient, url: str, *, headers: dict[str, str] | None = None
) -> AsyncIterator[Frame]:
    """Parsed events of one stream (httpx-sse), up to and including `end`."""
    async with aconnect_sse(client, "GET", url, headers=headers or {}) as source:
        source.response.raise_for_status()
        async for sse in source.aiter_sse():
            if not sse.data and sse.event == "message":
                continue  # e.g. the lone `retry:` block: browsers dispatch nothing for it
            frame = Frame(sse.id or None, sse.event, json.loads(sse.data) if sse.data else {})
            yield frame
            if frame.event == "end":
                return


async def start_run(client: httpx.AsyncClient, kind: str = "demo", **params: Any) -> str:
    response = await client.post("/api/runs", json={"kind": kind, "params": params})
    assert response.status_code == 202, response.text
    run_id = response.json()["id"]
    assert isinstance(run_id, str)
    return run_id


async def wait_for(
    predicate: Callable[[], Any], *, limit_s: float = 30, every_s: float = 0.05
) -> Any:
    """Poll an async predicate until it returns something truthy (bounded loop)."""
    for _ in range(int(limit_s / every_s)):
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(every_s)
    raise AssertionError("condition not reached in time")


async def run_status(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/runs/{run_id}")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert isinstance(data, dict)
    return data


def transitions(frames: list[Frame]) -> list[tuple[Any, ...]]:
    """The step states and terminal event a watcher saw, in order, without repeats."""
    seen: list[tuple[Any, ...]] = []
    for frame in frames:
        if frame.event == "message" and frame.data.get("step"):
            key: tuple[Any, ...] = (frame.data["step"]["name"], frame.data["step"]["status"])
        elif frame.event in ("complete", "error", "cancelled"):
            key = (frame.event,)
        else:
            continue
        if not seen or seen[-1] != key:
            seen.append(key)
    return seen


async def in_finalize(client: httpx.AsyncClient, run_id: str) -> bool:
    """The demo job has reached `finalize`, where `hold_ms` keeps its transaction open."""
    return bool((await run_status(client, run_id))["current_step"] == 4)


async def demo_rows(settings: Settings, run_id: str) -> int:
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with engine.connect() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count()).select_from(DemoItem).where(DemoItem.run_id == run_id)
            )
    finally:
        await engine.dispose()
    return int(count or 0)


async def job_ended(server: Server) -> bool:
    runner = server.services.runner
    assert runner is not None
    return not runner.tasks
