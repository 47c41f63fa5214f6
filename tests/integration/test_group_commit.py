"""Group commit on a real run store (SQLite, and PostgreSQL when configured): several runs'
progress in one transaction, each fenced by its own lease; many runs at once through the
runner, every one's events whole and in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import BaseModel

from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.events import RunEvent
from progress_sse.runs.models import Run
from progress_sse.runs.progress import StepSpec
from progress_sse.runs.store import (
    LeaseLost,
    NewRun,
    ProgressWrite,
    Requests,
    RowBusy,
    RunStore,
)
from progress_sse.storage import db
from tests.support import collect, run_server, start_run


async def running(store: RunStore, n: int) -> list[Run]:
    """`n` runs claimed by a pretend worker, each with its own lease `lease-<i>`."""
    runs = []
    for i in range(n):
        run, _ = await store.create_run(
            NewRun(tenant_id="acme", kind="demo", params={}, lock_key=None, idempotency_key=None,
                   created_by="test")
        )  # fmt: skip
        claimed = await store.claim(run.id, "test-worker", f"lease-{i}")
        assert claimed is not None
        runs.append(claimed)
    return runs


def progress(run: Run, lease: str, message: str) -> ProgressWrite:
    seq = run.seq + 1
    data: Any = {"run_id": run.id, "seq": seq, "status": "running", "message": message}
    return ProgressWrite(run.id, lease, (RunEvent(run.id, seq, None, data),), {}, ())


async def test_one_transaction_writes_each_run_whose_lease_holds_and_none_that_lost_it(
    make_settings: Any,
) -> None:
    async with run_server(make_settings(run_jobs=False)) as srv:
        store = srv.services.store
        a, b, c = await running(store, 3)
        async with store.sessions.begin() as session:  # an admin reset took b elsewhere
            await session.execute(
                sa.update(Run).where(Run.id == b.id).values(lease_token="someone-else")
            )
        commits = store.progress_commits
        outcomes = await store.write_progress_many([
            progress(a, "lease-0", "a moves"),
            progress(b, "lease-1", "b thinks it still runs"),
            progress(c, "lease-2", "c moves"),
        ])  # fmt: skip
        assert store.progress_commits == commits + 1, "one transaction for all three"
        assert outcomes[0] == Requests() and outcomes[2] == Requests()
        assert isinstance(outcomes[1], LeaseLost)
        for run, written in ((a, ["a moves"]), (b, []), (c, ["c moves"])):
            events = await store.events_after(run.id, run.seq, 10)
            assert [e.data["message"] for e in events] == written
        assert (await store.get_run("acme", b.id)).seq == b.seq, "b's row is untouched"
        assert (await store.get_run("acme", a.id)).seq == a.seq + 1


async def test_a_run_whose_row_another_transaction_holds_stalls_none_of_its_group(
    make_settings: Any, backend: str
) -> None:
    """PostgreSQL: the group skips a held row (its write then waits alone), it does not wait
    for it; SQLite has one writer, so no other transaction holds a row while we write."""
    if backend != "postgresql":
        pytest.skip("row locks held by another transaction exist on PostgreSQL only")
    settings = make_settings(run_jobs=False)
    holder = db.create_engine(settings.database_url, settings)  # no timeouts of ours
    try:
        async with run_server(settings) as srv, holder.connect() as conn:
            store = srv.services.store
            a, b, c = await running(store, 3)
            await conn.begin()
            await conn.execute(sa.select(Run.id).where(Run.id == b.id).with_for_update())
            writes = [
                progress(a, "lease-0", "a moves"),
                progress(b, "lease-1", "b waits"),
                progress(c, "lease-2", "c moves"),
            ]
            # Bounded: waiting for b's row would take the store's 5 s lock timeout, then fail.
            outcomes = await asyncio.wait_for(
                store.write_progress_many(writes, skip_locked=True), 10
            )
            assert outcomes[0] == Requests() and outcomes[2] == Requests()
            assert isinstance(outcomes[1], RowBusy)
            assert [e.data["message"] for e in await store.events_after(a.id, a.seq, 10)] == [
                "a moves"
            ]
            assert await store.events_after(b.id, b.seq, 10) == []
            await conn.rollback()
            assert await store.write_progress(b.id, "lease-1", *_parts(progress(b, "", "b"))) == (
                Requests()
            ), "alone, once the row is free, it is written"
    finally:
        await holder.dispose()


def _parts(write: ProgressWrite) -> tuple[Any, ...]:
    return (write.events, dict(write.run_values), write.steps)


class Ticks(BaseModel):
    n: int = 30


async def ticking(ctx: Any, params: Ticks) -> dict[str, Any]:
    """Progress only, no business writes: runs overlap on SQLite too."""
    for i in range(1, params.n + 1):
        await ctx.progress(processed=i, total=params.n, message=f"tick {i}")
        await asyncio.sleep(0.002)
    return {"ticks": params.n}


TICKING = JobKind(name="ticking", params=Ticks, run=ticking, steps=(StepSpec("tick", 0, 100),))


async def test_many_runs_at_once_share_transactions_and_each_stream_is_whole(
    make_settings: Any,
) -> None:
    settings = make_settings(progress_interval_s=0, job_concurrency=12)
    async with run_server(settings, jobs=[TICKING]) as srv, srv.client() as client:
        store = srv.services.store
        run_ids = [await start_run(client, "ticking", n=30) for _ in range(12)]
        streams = await asyncio.gather(
            *(collect(client, f"/api/runs/{run_id}/events?last_event_id=0") for run_id in run_ids)
        )
        for frames in streams:
            seqs = [f.seq for f in frames if f.event != "end"]
            assert seqs == list(range(1, len(seqs) + 1)), "every event, once, in order"
            assert frames[-2].event == "complete"
            shown = [f.data["percentage"] for f in frames if f.data.get("percentage") is not None]
            assert shown == sorted(shown), "the bar never moves back"
        assert store.progress_commits < store.progress_writes, (
            "writes of runs ready together shared a transaction"
        )
