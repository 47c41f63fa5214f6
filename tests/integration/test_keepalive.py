"""Keep-alive: a quiet stream gets `: ping` comments on time, from one sweep per process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import Any

import httpx

from tests.support import run_server, start_run, wait_for

PING_S = 0.4


async def read_for(response: httpx.Response, seconds: float) -> list[tuple[float, str]]:
    """Every line of the stream with its arrival time, for `seconds` (bounded)."""
    lines: list[tuple[float, str]] = []

    async def read() -> None:
        async for line in response.aiter_lines():
            lines.append((time.monotonic(), line))

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(read(), seconds)
    return lines


async def test_quiet_streams_are_pinged_within_the_interval_and_busy_ones_are_not(
    make_settings: Any,
) -> None:
    settings = make_settings(ping_interval_s=PING_S, job_concurrency=1)
    async with run_server(settings) as srv, srv.client() as client:
        busy = await start_run(client, items=2_000, delay_ms=5, lock="busy")
        await wait_for(lambda: _running(client, busy))
        quiet = await start_run(client, items=1, lock="quiet")  # queued behind: silent
        try:
            async with (
                client.stream("GET", f"/api/runs/{quiet}/events") as q,
                client.stream("GET", f"/api/runs/{busy}/events") as b,
            ):
                started = time.monotonic()
                quiet_lines, busy_lines = await asyncio.gather(
                    read_for(q, 8 * PING_S), read_for(b, 8 * PING_S)
                )
        finally:
            for run_id in (quiet, busy):
                await client.post(f"/api/runs/{run_id}/cancel")
    pings = [at for at, line in quiet_lines if line == ": ping"]
    assert len(pings) >= 4, quiet_lines
    # No silence much longer than the interval (a loaded CI machine may be late), from the start.
    moments = [started] + [at for at, line in quiet_lines if line]
    assert max(b - a for a, b in itertools.pairwise(moments)) < 4 * PING_S
    # A stream that hears an event every few milliseconds needs no keep-alive: a ping only
    # ever follows a silence (on a loaded machine the job itself may pause that long).
    heard = [(at, line) for at, line in busy_lines if line]
    after_silence = [at - before for (before, _), (at, line) in itertools.pairwise(heard)
                     if line == ": ping"]  # fmt: skip
    assert all(gap >= PING_S / 2 for gap in after_silence), after_silence
    assert len(after_silence) < len(pings), "the busy stream is pinged less than the quiet one"
    assert sum(line.startswith("data:") for _, line in busy_lines) > 20


async def _running(client: httpx.AsyncClient, run_id: str) -> bool:
    data = (await client.get(f"/api/runs/{run_id}")).json()["data"]
    return bool(data["status"] == "running")
