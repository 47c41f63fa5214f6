"""Workers that are killed or frozen: runs end, periods stay whole, late commits are refused."""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from progress_sse.accounting.depreciation.models import DepreciationDocument, DepreciationEntry
from progress_sse.accounting.seed import seed_assets
from progress_sse.jobs.demo.models import DemoItem
from progress_sse.runs.models import Run
from progress_sse.web.api.stream import RECONNECT_MS
from tests.integration.test_multiprocess import FAST, _healthy, free_port, spawn
from tests.support import collect, in_finalize, run_server, run_status, start_run, wait_for

pytestmark = pytest.mark.skipif(
    not __import__("tests.conftest", fromlist=["PG_URL"]).PG_URL,
    reason="worker processes need PostgreSQL",
)
STALE = {"PROGRESS_SSE_STALE_AFTER_S": "1.0", "PROGRESS_SSE_HEARTBEAT_INTERVAL_S": "0.2"}


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def pg_env(db_urls: dict[str, str]) -> dict[str, str]:
    return {"PROGRESS_SSE_DATABASE_URL": db_urls["database_url"], **FAST, **STALE}


def watcher_settings(make_settings: Any) -> Any:
    # This process serves and sweeps; only the worker subprocesses run jobs.
    # Twenty kill points start and poll more than the default per-key limits allow.
    return make_settings(
        run_jobs=False,
        stale_after_s=1.0,
        sweep_interval_s=0.2,
        rate_limit_starts="",
        rate_limit_requests="",
    )


async def test_a_frozen_worker_cannot_commit_after_it_was_declared_dead(
    pg_env: dict[str, str], make_settings: Any, tmp_path: Path
) -> None:
    async with run_server(watcher_settings(make_settings)) as srv, srv.client() as client:
        async with spawn("worker", env=pg_env, log=tmp_path / "w.log") as worker:
            run_id = await start_run(client, items=5, delay_ms=0, hold_ms=3000)
            await wait_for(lambda: in_finalize(client, run_id))
            worker.send_signal(signal.SIGSTOP)  # paused mid-transaction, past the threshold
            frames = await collect(
                client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"}
            )
            worker.send_signal(signal.SIGCONT)  # it wakes up and tries to finish its work
            await asyncio.sleep(4)  # its hold ends; it commits, or is refused
            state = await run_status(client, run_id)
        async with srv.services.engine.connect() as conn:
            rows = await conn.scalar(
                sa.select(sa.func.count()).select_from(DemoItem).where(DemoItem.run_id == run_id)
            )
        log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    assert frames[-2].event == "error" and frames[-2].data["error_code"] == "stale"
    assert state["status"] == "failed" and state["error_code"] == "stale"
    assert rows == 0, "the late commit was refused"
    assert [e["event"] for e in log if e["event"]] == ["error"]


# Twenty kill points take a third of the suite: five by default, twenty where it counts
# (.ci/run sets PROGRESS_SSE_TEST_THOROUGH=1, so CI proves all twenty).
KILL_POINTS = 20 if os.environ.get("PROGRESS_SSE_TEST_THOROUGH") else 5


async def test_kill_9_at_many_points_never_leaves_a_half_posted_period(
    pg_env: dict[str, str], make_settings: Any, tmp_path: Path
) -> None:
    settings = watcher_settings(make_settings)
    await seed_assets(settings, "acme", 15_000)
    rng = random.Random(7)
    async with run_server(settings) as srv, srv.client() as client:
        # An undisturbed run first: how long does the work take after the claim?
        run_id, seconds = await _depreciate(client, pg_env, tmp_path / "first.log", kill_after=None)
        assert (await _state(client, run_id))["status"] == "completed"
        last_complete, outcomes = run_id, []
        for point in range(KILL_POINTS):  # kill at random moments of a run, to past its commit
            delay = rng.uniform(0.0, seconds * 1.2)
            run_id, _ = await _depreciate(
                client, pg_env, tmp_path / f"w{point}.log", kill_after=delay
            )
            state = await wait_for(lambda rid=run_id: _ended(client, rid), limit_s=30)
            outcomes.append(state["status"])
            if state["status"] == "completed":
                last_complete = run_id
            else:
                assert state["error_code"] in ("stale", "worker_lost")  # whichever sees it first
            # The period holds exactly the entries of its last completed run: all or nothing.
            assert await _period_runs(srv) == {last_complete}
            log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
            assert len([e for e in log if e["event"]]) == 1, "exactly one terminal event"
        failed = [o for o in outcomes if o == "failed"]
        assert failed, f"some kills landed before the commit: {outcomes}"
        # Resume the last killed run: it completes and replaces the period, no duplicates.
        killed = run_id if outcomes[-1] == "failed" else None
        if killed is not None:
            assert (await client.post(f"/api/runs/{killed}/resume")).status_code == 202
            async with spawn("worker", env=pg_env, log=tmp_path / "resume.log"):
                state = await wait_for(lambda: _ended(client, killed), limit_s=60)
            assert state["status"] == "completed" and state["attempt"] == 2
            assert await _period_runs(srv) == {killed}
            frames = await collect(
                client, f"/api/runs/{killed}/events", headers={"Last-Event-ID": "0"}
            )
            ids = [f.seq for f in frames if f.event != "end"]
            assert ids == sorted(set(ids)), "event ids only grew across the attempts"


async def _depreciate(
    client: Any, env: dict[str, str], log: Path, *, kill_after: float | None
) -> tuple[str, float]:
    run_id = await start_run(
        client, "asset_depreciation", year=2026, month=5, allow_earlier_unposted=True
    )
    async with spawn("worker", env=env, log=log) as worker:
        await wait_for(lambda: _claimed(client, run_id), limit_s=30, every_s=0.02)
        started = asyncio.get_running_loop().time()
        if kill_after is None:
            await wait_for(lambda: _ended(client, run_id), limit_s=60, every_s=0.02)
        else:
            await asyncio.sleep(kill_after)
            worker.kill()
            await worker.wait()
        return run_id, asyncio.get_running_loop().time() - started


async def _state(client: Any, run_id: str) -> dict[str, Any]:
    return await run_status(client, run_id)


async def _claimed(client: Any, run_id: str) -> bool:
    return (await run_status(client, run_id))["status"] != "pending"


async def _ended(client: Any, run_id: str) -> dict[str, Any] | None:
    state = await run_status(client, run_id)
    return state if state["status"] in ("completed", "failed") else None


async def _period_runs(srv: Any) -> set[str]:
    """The run whose document the period has posted; every document complete or absent."""
    doc, entry = DepreciationDocument, DepreciationEntry
    async with srv.services.engine.connect() as conn:
        documents = (
            await conn.execute(
                sa.select(doc.id, doc.run_id, doc.status, doc.kind, doc.entry_count)
                .where(doc.year == 2026, doc.month == 5)
                .order_by(doc.document_no)
            )
        ).all()
        numbers = await conn.scalars(
            sa.select(doc.document_no).where(doc.year == 2026, doc.month == 5)
        )
        assert sorted(numbers) == [f"DEP/2026/05/{n:04d}" for n in range(1, len(documents) + 1)]
        for document_id, run_id, _status, _kind, expected in documents:
            count = await conn.scalar(
                sa.select(sa.func.count()).where(entry.document_id == document_id)
            )
            result = await conn.scalar(sa.select(Run.result).where(Run.id == run_id))
            assert result is not None and count == expected, "all or nothing"
    return {
        run for _, run, status, kind, _ in documents if (kind, status) == ("depreciation", "posted")
    }


async def test_sigterm_ends_streams_with_a_retry_hint_and_leaves_no_run_running(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    from tests.integration.test_multiprocess import admin_key, serve

    env = pg_env | {"PROGRESS_SSE_SHUTDOWN_GRACE_S": "2"}
    key = await admin_key(env["PROGRESS_SSE_DATABASE_URL"])
    headers = {"Authorization": f"Bearer {key}"}
    async with serve(env, tmp_path / "b.log") as b:  # the process the browser comes back to
        port = free_port()
        async with spawn("serve", "--port", str(port), env=env, log=tmp_path / "a.log") as a:
            base_a = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base_a, timeout=30) as probe:
                await wait_for(lambda: _healthy(probe), limit_s=30, every_s=0.1)
            async with httpx.AsyncClient(base_url=base_a, headers=headers, timeout=30) as on_a:
                started = await on_a.post(
                    "/api/runs", json={"kind": "demo", "params": {"items": 400, "delay_ms": 50}}
                )
                url = started.json()["events_url"]
                lines: list[str] = []
                async with on_a.stream("GET", url) as response:
                    async for line in response.aiter_lines():
                        lines.append(line)
                        if len(lines) == 12:
                            a.send_signal(signal.SIGTERM)
                stopped_at = asyncio.get_running_loop().time()
            await asyncio.wait_for(a.wait(), 20)
            exit_s = asyncio.get_running_loop().time() - stopped_at
        last_id = [ln for ln in lines if ln.startswith("id: ")][-1].removeprefix("id: ")
        async with httpx.AsyncClient(base_url=b, headers=headers, timeout=30) as on_b:
            rest = await collect(on_b, url, headers={"Last-Event-ID": last_id})
            state = await run_status(on_b, started.json()["id"])
    assert lines[-2:] == [f"retry: {RECONNECT_MS}", ""], "the stream ended with a retry hint"
    assert exit_s < 10, "the process exited within its grace period"
    assert state["status"] == "failed" and state["error_code"] == "interrupted"
    assert rest[0].seq == int(last_id) + 1 or rest[0].seq > int(last_id)
    assert rest[-2].event == "error" and rest[-1].event == "end", (
        "nothing missed after reconnecting"
    )
