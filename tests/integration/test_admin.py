"""Admin actions: reset a tenant's active runs, clean up old finished runs."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from progress_sse.jobs.maintenance import DELETE_BATCH, delete_finished
from progress_sse.runs.events import utc_now
from progress_sse.runs.models import Run
from progress_sse.settings import Settings
from tests.support import (
    Server,
    collect,
    demo_rows,
    in_finalize,
    job_ended,
    run_server,
    run_status,
    start_run,
    wait_for,
)


async def test_reset_fails_the_tenants_active_runs_and_fences_their_workers(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(heartbeat_interval_s=0.2)
    async with (
        run_server(settings) as srv,
        srv.client() as client,
        srv.client("acme-member") as member,
        srv.client("globex") as globex,
    ):
        holding = await start_run(client, items=2, delay_ms=0, hold_ms=20_000, lock="a")
        theirs = await start_run(globex, items=2, delay_ms=0, hold_ms=3_000)
        await wait_for(lambda: in_finalize(client, holding))
        forbidden = await member.post("/api/admin/tenants/acme/reset")
        other = await client.post("/api/admin/tenants/globex/reset")
        reset = await client.post("/api/admin/tenants/acme/reset")
        frames = await collect(
            client, f"/api/runs/{holding}/events", headers={"Last-Event-ID": "0"}
        )
        await wait_for(lambda: _only_left(srv, theirs), limit_s=5)  # the worker stopped
        state = await run_status(client, holding)
        unaffected = await run_status(globex, theirs)
    assert forbidden.status_code == 403
    assert other.status_code == 404, "another tenant is not the admin's to reset"
    assert reset.json() == {"success": True, "reset_count": 1}
    assert frames[-2].event == "error" and frames[-2].data["error_code"] == "reset_by_admin"
    assert state["status"] == "failed" and state["error_code"] == "reset_by_admin"
    assert await demo_rows(settings, holding) == 0
    assert unaffected["status"] in ("running", "completed")


async def _only_left(server: Server, run_id: str) -> bool:
    runner = server.services.runner
    assert runner is not None
    return set(runner.tasks) <= {run_id}


async def test_cleanup_deletes_only_old_finished_runs_of_the_tenant(
    server: Server, settings: Settings
) -> None:
    async with server.client() as client, server.client("globex") as globex:
        old = await start_run(client, items=1, delay_ms=0, lock="old")
        await collect(client, f"/api/runs/{old}/events")
        recent = await start_run(client, items=1, delay_ms=0, lock="recent")
        await collect(client, f"/api/runs/{recent}/events")
        foreign = await start_run(globex, items=1, delay_ms=0)
        await collect(globex, f"/api/runs/{foreign}/events")
        async with server.services.sessions.begin() as session:
            await session.execute(
                sa.update(Run)
                .where(Run.id.in_([old, foreign]))
                .values(finished_at=utc_now() - timedelta(days=40))
            )
        bad = await client.post("/api/admin/cleanup", json={"older_than_days": 0})
        done = await client.post("/api/admin/cleanup", json={"older_than_days": 30})
        gone = await client.get(f"/api/runs/{old}")
        kept = await client.get(f"/api/runs/{recent}")
        theirs = await globex.get(f"/api/runs/{foreign}")
    assert bad.status_code == 422
    assert done.json()["deleted_runs"] == 1
    assert gone.status_code == 404 and kept.status_code == 200 and theirs.status_code == 200
    assert await job_ended(server)


async def test_cleanup_deletes_a_backlog_larger_than_one_batch(server: Server) -> None:
    """Deleted in batches of DELETE_BATCH runs, each a short transaction: every one goes."""
    backlog = 2 * DELETE_BATCH + 7
    now = utc_now()
    async with server.services.sessions.begin() as session:
        await session.execute(sa.insert(Run), [
            {"id": f"old{i:05d}", "tenant_id": "acme", "kind": "demo", "params": {},
             "status": "completed", "created_at": now, "finished_at": now - timedelta(days=40)}
            for i in range(backlog)
        ])  # fmt: skip
    async with server.services.sessions() as session:
        before = await session.scalar(sa.select(sa.func.count()).select_from(Run))
    deleted = await delete_finished(
        server.services.store, older_than=timedelta(days=30), tenant_id=None, by="test"
    )
    async with server.services.sessions() as session:
        after = await session.scalar(sa.select(sa.func.count()).select_from(Run))
    assert deleted == backlog and (before, after) == (backlog, 0)
