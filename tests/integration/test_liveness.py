"""Stale runs and fencing: a dead worker's run ends, a late worker cannot commit."""

from __future__ import annotations

import asyncio

from progress_sse.jobs.liveness import Liveness
from tests.support import (
    collect,
    demo_rows,
    in_finalize,
    job_ended,
    run_server,
    run_status,
    start_run,
    wait_for,
)


async def test_a_silent_run_is_failed_as_stale_and_its_late_commit_is_refused(
    make_settings,
) -> None:  # type: ignore[no-untyped-def]
    # The worker writes no heartbeat for 30 s (as if paused); the threshold is 0.6 s.
    settings = make_settings(stale_after_s=0.6, heartbeat_interval_s=30, sweep_interval_s=0.2)
    async with run_server(settings) as srv, srv.client() as client:
        run_id = await start_run(client, items=3, delay_ms=0, hold_ms=2500)
        frames = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        await wait_for(lambda: job_ended(srv), limit_s=20)  # the job woke up and tried to commit
        state = await run_status(client, run_id)
        log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    terminal = frames[-2]
    assert terminal.event == "error" and terminal.data["error_code"] == "stale"
    assert state["status"] == "failed" and state["error_code"] == "stale"
    assert [e["event"] for e in log if e["event"]] == ["error"], "exactly one terminal event"
    assert await demo_rows(settings, run_id) == 0, "the late commit was refused"


async def test_a_worker_declared_dead_stops_within_a_heartbeat(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(heartbeat_interval_s=0.2, sweep_interval_s=60)
    async with run_server(settings) as srv, srv.client() as client:
        run_id = await start_run(client, items=3, delay_ms=0, hold_ms=20_000)
        await wait_for(lambda: in_finalize(client, run_id))
        # Another process's sweeper, with a threshold this worker cannot meet.
        impatient = Liveness(srv.services.store, srv.services.broker, stale_after_s=0.000001)
        assert await impatient.sweep(run_id) == 1
        await wait_for(lambda: job_ended(srv), limit_s=5)  # not the 20 s of its hold
        state = await run_status(client, run_id)
    assert state["status"] == "failed" and state["error_code"] == "stale"
    assert await demo_rows(settings, run_id) == 0


async def test_a_status_read_fails_a_stale_run_without_waiting_for_the_sweeper(
    make_settings,
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(stale_after_s=0.5, heartbeat_interval_s=30, sweep_interval_s=3600)
    async with run_server(settings) as srv, srv.client() as client:
        run_id = await start_run(client, items=2, delay_ms=0, hold_ms=3000)
        await wait_for(lambda: in_finalize(client, run_id))
        await asyncio.sleep(0.8)
        state = await run_status(client, run_id)
        active = (await client.get("/api/runs/active")).json()
    assert state["status"] == "failed" and state["error_code"] == "stale"
    assert state["stale"] is False, "it is failed now, no longer a running run without heartbeat"
    assert active["status"] == "no_active_progress"
