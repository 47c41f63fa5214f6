"""A worker killed with SIGKILL in the middle of a batch's child, on PostgreSQL: the child
fails as its worker is seen gone, the batch reports it (and skips what waits), and a
resume on another worker carries on from the child's last committed chunk (issue 18)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from table_sync import source
from table_sync.source import Table

from tests.integration.test_batches import check_counts, demo, show, statuses, watch
from tests.integration.test_crashes import STALE, watcher_settings
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
