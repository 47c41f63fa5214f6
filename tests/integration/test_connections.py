"""Connections a hostile client opens cannot exhaust the server (the real `serve`).

Incomplete requests are closed after `PROGRESS_SSE_TIMEOUT_REQUEST_HEADER_S`,
idle keep-alive connections after `PROGRESS_SSE_TIMEOUT_KEEP_ALIVE_S`, open
event streams are never cut, and over `PROGRESS_SSE_MAX_CONNECTIONS` the
process answers 503 instead of letting the kernel reset connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from progress_sse.cli import admin
from progress_sse.settings import Settings
from tests.integration.test_multiprocess import FAST, _healthy, admin_key, free_port, spawn
from tests.support import start_run, wait_for

SLOW = 40  # slowloris connections, each one request line and one header, never finished


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, **env: str) -> AsyncIterator[tuple[str, int, str]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    await admin.migrate_all(Settings(database_url=url))
    key = await admin_key(url)
    port = free_port()
    settings = {"PROGRESS_SSE_DATABASE_URL": url, **FAST, **env}
    async with spawn("serve", "--port", str(port), env=settings, log=tmp_path / "serve.log"):
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as probe:
            await wait_for(lambda: _healthy(probe), limit_s=30, every_s=0.1)
        yield base, port, key


async def close_all(writers: list[asyncio.StreamWriter]) -> None:
    for writer in writers:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def closed_by_server(reader: asyncio.StreamReader, limit_s: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), limit_s) is not None  # EOF: closed
    except TimeoutError:
        return False


async def test_incomplete_requests_and_idle_connections_are_closed_streams_are_not(
    tmp_path: Path,
) -> None:
    env = {"PROGRESS_SSE_TIMEOUT_REQUEST_HEADER_S": "1", "PROGRESS_SSE_TIMEOUT_KEEP_ALIVE_S": "1"}
    async with serving(tmp_path, **env) as (base, port, key):
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(SLOW)]
        for _, writer in slow:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never the blank line
            await writer.drain()
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        idle_writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # answered, kept alive
        await idle_writer.drain()
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            run_id = await start_run(client, items=30, delay_ms=100)  # about 3 s of events
            async with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
                closed = await asyncio.gather(*(closed_by_server(r, 10) for r, _ in slow))
                idle_closed = await closed_by_server(idle_reader, 10)
                lines = [line async for line in stream.aiter_lines()]
            fresh = await client.get("/healthz")
        await close_all([w for _, w in slow] + [idle_writer])
    assert all(closed), f"{closed.count(False)} of {SLOW} incomplete requests stayed open"
    assert idle_closed, "an idle keep-alive connection was closed"
    assert "event: end" in lines, "the event stream ran to its end, past both timeouts"
    assert fresh.status_code == 200


async def test_over_the_connection_cap_clients_get_503_not_resets(tmp_path: Path) -> None:
    async with serving(tmp_path, PROGRESS_SSE_MAX_CONNECTIONS="16") as (base, port, _key):
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(15)]
        for _, writer in held:  # answered and kept alive: 15 connections stay open
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            await writer.drain()
        answers = [await reader.readuntil(b"\r\n") for reader, _ in held]
        assert set(answers) == {b"HTTP/1.1 200 OK\r\n"}
        async with httpx.AsyncClient(base_url=base) as client:
            over = await client.get("/healthz")
        await close_all([w for _, w in held])
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=base) as client:
            after = await client.get("/healthz")
    assert over.status_code == 503
    assert after.status_code == 200
