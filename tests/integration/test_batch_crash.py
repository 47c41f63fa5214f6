"""A worker killed with SIGKILL in the middle of a batch's child, on PostgreSQL: the child
fails as its worker is seen gone, the batch reports it (and skips what waits), and a
resume on another worker carries on from the child's last committed chunk, or posts the
month-end close's month once (issue 18)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from table_sync import source
from table_sync.source import Table

from progress_sse.accounting.depreciation import periods
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.accounting.seed import seed_assets
from tests.integration.test_batches import check_counts, demo, show, statuses, watch
from tests.integration.test_crashes import STALE, _period_runs, watcher_settings
from tests.integration.test_example_job import records
from tests.integration.test_multiprocess import FAST, spawn
from tests.support import run_server, run_status, wait_for

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.skipif(
        not __import__("tests.conftest", fromlist=["PG_URL"]).PG_URL,
        reason="worker processes need PostgreSQL",
    ),
]


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def worker_env(db_urls: dict[str, str]) -> dict[str, str]:
    return {"PROGRESS_SSE_DATABASE_URL": db_urls["database_url"], **FAST, **STALE}


async def test_a_worker_killed_during_a_child_fails_it_and_a_resume_continues(
    make_settings: Any, worker_env: dict[str, str], tmp_path: Path
) -> None:
    settings = watcher_settings(make_settings)
    slow = {"tables": ["invoices"], "batch_size": 100, "scale": 0.2, "delay_ms": 150}
    sync = {"name": "sync", "kind": "table_sync", "params": slow}
    async with run_server(settings) as srv, srv.client() as client:
        response = await client.post(
            "/api/batches", json={"name": "Crash", "children": [demo("a"), sync, demo("c")]}
        )
        batch = response.json()["data"]
        async with spawn("worker", env=worker_env, log=tmp_path / "first.log") as worker:

            async def copying() -> bool:
                return (await records(settings)).get("invoices", 0) >= 200

            await wait_for(copying, limit_s=60)
            worker.kill()  # SIGKILL: no goodbye, its session and lock vanish with it
            await worker.wait()
        first = await watch(client, batch)
        failed = await show(client, batch["id"])
        kept = (await records(settings))["invoices"]
        assert (await client.post(f"/api/batches/{batch['id']}/resume")).status_code == 202
        async with spawn("worker", env=worker_env, log=tmp_path / "second.log"):
            second = await watch(client, batch, after=first[-2].seq)
        done = await show(client, batch["id"])
        a_run = await run_status(client, done["children"][0]["run_id"])
        sync_run = await run_status(client, done["children"][1]["run_id"])
    assert first[-2].event == "error"
    check_counts(first, 3)
    assert statuses(failed) == ["succeeded", "failed", "skipped"]
    assert failed["children"][1]["reason"], "the child says why it failed"
    assert sync_run["id"] == failed["children"][1]["run_id"] and sync_run["attempt"] == 2
    assert 200 <= kept < source.size(Table.INVOICES, 0.2), "killed half-way"
    assert second[-2].event == "complete" and statuses(done) == ["succeeded"] * 3
    check_counts(second, 3)
    assert a_run["attempt"] == 1, "the child that had succeeded never ran again"
    assert await records(settings) == {"invoices": source.size(Table.INVOICES, 0.2)}, "no row twice"


async def test_a_close_survives_a_worker_killed_during_its_posting(
    make_settings: Any, worker_env: dict[str, str], tmp_path: Path
) -> None:
    """The month-end close: kill -9 while the posting's transaction is open (it waits for
    the month's document counter, which this test holds, to number its document); nothing
    is posted, the month stays open, and a resume posts it once and locks it."""
    settings = watcher_settings(make_settings)
    await seed_assets(settings, "acme", 2_000)
    async with run_server(settings) as srv, srv.client() as client:
        async with srv.services.business_sessions.begin() as holding:
            await periods.hold_month(holding, "acme", Period(2026, 5))
            response = await client.post("/api/close/2026/5?allow_earlier_unposted=true")
            batch = response.json()["data"]
            async with spawn("worker", env=worker_env, log=tmp_path / "first.log") as worker:

                async def numbering() -> bool:  # in its transaction, waiting for a number
                    child = (await show(client, batch["id"]))["children"][0]
                    return (child["step"] or {}).get("name") == "prepare"

                await wait_for(numbering, limit_s=60)
                await asyncio.sleep(0.5)  # well inside the wait
                worker.kill()
                await worker.wait()
        first = await watch(client, batch)
        failed = await show(client, batch["id"])
        posted_after_kill = await _period_runs(srv)
        locked_after_kill = (await client.get("/api/periods")).json()["data"]
        assert (await client.post(f"/api/batches/{batch['id']}/resume")).status_code == 202
        async with spawn("worker", env=worker_env, log=tmp_path / "second.log"):
            second = await watch(client, batch, after=first[-2].seq)
        done = await show(client, batch["id"])
        posting_run = await run_status(client, done["children"][0]["run_id"])
        posted = await _period_runs(srv)
        locked = [p["period"] for p in (await client.get("/api/periods")).json()["data"]]
    assert first[-2].event == "error" and statuses(failed) == ["failed", "skipped"]
    assert posted_after_kill == set() and locked_after_kill == [], "all or nothing, and open"
    assert second[-2].event == "complete" and statuses(done) == ["succeeded", "succeeded"]
    assert posting_run["attempt"] == 2 and posted == {posting_run["id"]}, "posted once"
    assert locked == ["2026-05"]
