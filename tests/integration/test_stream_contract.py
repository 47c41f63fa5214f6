"""The event stream, as docs/stream-contract.md states it."""

from __future__ import annotations

import asyncio

import httpx

from tests.support import Server, collect, run_status, start_run, wait_for


async def test_stream_headers_and_framing(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=5, delay_ms=10)
        async with client.stream("GET", f"/api/runs/{run_id}/events") as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            assert response.headers["x-accel-buffering"] == "no"
            lines = []
            async for line in response.aiter_lines():
                lines.append(line)
                if line == "event: end":
                    break
        assert lines[0] == "retry: 1000"
        assert lines[-2] == "", "`end` carries no id: line"
        run_id = await start_run(client, items=5, delay_ms=10, lock="second")
        frames = await collect(client, f"/api/runs/{run_id}/events")
    progress = [f for f in frames if f.event == "message"]
    assert progress, "progress events have no event: line, so onmessage gets them"
    complete, end = frames[-2], frames[-1]
    assert complete.event == "complete" and complete.data["success"] is True
    assert complete.data["status"] == "completed" and complete.data["percentage"] == 100
    assert complete.data["records_processed"] == 5
    assert end.event == "end" and end.data == {}


async def test_ids_equal_seq_and_strictly_increase(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=30, delay_ms=5)
        frames = await collect(client, f"/api/runs/{run_id}/events")
    with_ids = [f for f in frames if f.event != "end"]
    assert all(f.seq == f.data.get("seq") for f in with_ids), [
        f for f in with_ids if "seq" not in f.data
    ]
    seqs = [f.seq for f in with_ids]
    assert seqs == sorted(set(seqs)), "ids strictly increase"
    for frame in with_ids:
        assert frame.data["ts"].endswith("Z") and len(frame.data["ts"]) == len(
            "2026-11-22T16:40:01.123456Z"
        )
        assert frame.data["run_id"] == run_id


async def test_progress_carries_step_counts_rate_and_eta(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=40, delay_ms=5)
        frames = await collect(client, f"/api/runs/{run_id}/events")
    counted = [
        f
        for f in frames
        if f.event == "message"
        and f.data["step"]
        and f.data["step"]["name"] == "process"
        and f.data["processed"] > 0
        and f.data["step"]["status"] == "in_progress"
    ]
    assert counted
    for frame in counted:
        assert frame.data["total"] == 40
        assert frame.data["rate"] > 0 and frame.data["eta_s"] >= 0
        assert 35 <= frame.data["percentage"] <= 90
    percentages = [f.data["percentage"] for f in frames if f.event == "message"]
    assert percentages == sorted(percentages), "the bar never moves backwards"


async def test_without_last_event_id_the_stream_starts_with_current_state(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=200, delay_ms=10)
        await wait_for(lambda: _in_process_step(client, run_id))
        state = await run_status(client, run_id)
        frames = await collect(client, f"/api/runs/{run_id}/events", stop=lambda f: True)
        await client.post(f"/api/runs/{run_id}/cancel")
    first = frames[0]
    assert first.event == "message"
    assert first.seq >= state["seq"] and first.data["status"] == "running"
    assert first.data["step"]["name"] == "process"


async def _in_process_step(client: httpx.AsyncClient, run_id: str) -> bool:
    state = await run_status(client, run_id)
    return state["current_step"] == 3 and state["processed"] > 0


async def test_finished_run_streams_terminal_and_end_at_once(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=3, delay_ms=0)
        await collect(client, f"/api/runs/{run_id}/events")
        frames = await collect(client, f"/api/runs/{run_id}/events", limit_s=5)
    assert [f.event for f in frames] == ["complete", "end"]


async def test_idle_stream_gets_ping_comments(make_settings) -> None:  # type: ignore[no-untyped-def]
    from tests.support import run_server

    settings = make_settings(ping_interval_s=0.2, run_jobs=False)
    async with run_server(settings) as srv, srv.client() as client:
        run_id = await start_run(client, items=3)
        pings = 0
        async with client.stream("GET", f"/api/runs/{run_id}/events") as response:

            async def read() -> None:
                nonlocal pings
                async for line in response.aiter_lines():
                    if line == ": ping":
                        pings += 1
                        if pings == 2:
                            return

            await asyncio.wait_for(read(), 10)
    assert pings == 2
