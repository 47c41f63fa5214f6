"""Group commit (jobs/groupcommit.py) and the writer that feeds it under faults, on a real run
store: a held row stalls no other run's write, and a writer cancelled while its write commits
records and shows what was committed. (Each was a defect an outside attack found.)"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from progress_sse.jobs.groupcommit import GroupCommit
from progress_sse.jobs.writer import Draft, ProgressWriter
from progress_sse.runs.events import RunEvent
from progress_sse.runs.models import Run
from progress_sse.runs.store import LeaseLost, ProgressWrite, Requests, RowBusy, RunStore
from progress_sse.storage import db
from tests.integration.test_group_commit import running
from tests.support import run_server


def one_event(run: Run, message: str) -> tuple[list[RunEvent], dict[str, Any], list[Any]]:
    seq = run.seq + 1
    data: Any = {"run_id": run.id, "seq": seq, "status": "running", "message": message}
    return [RunEvent(run.id, seq, None, data)], {"message": message}, []


async def until_someone_waits_for_a_lock(conn: AsyncConnection) -> None:
    """Bounded: returns once a backend waits for a row lock (the write under test)."""
    for _ in range(1000):
        waiting = await conn.scalar(sa.text("SELECT count(*) FROM pg_locks WHERE NOT granted"))
        if waiting:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the write never reached the held row")


# -- a held row -------------------------------------------------------------------------


async def test_a_lone_write_whose_row_is_held_does_not_hold_up_another_runs_write(
    make_settings: Any, backend: str
) -> None:
    """A write that finds no transaction in flight is a group of one: it skips a's held row
    (SKIP LOCKED) and waits for it off the committer's path, so b's write goes first."""
    if backend != "postgresql":
        pytest.skip("row locks held by another transaction exist on PostgreSQL only")
    settings = make_settings(run_jobs=False, store_statement_timeout_s=2)
    holder = db.create_engine(settings.database_url, settings)
    try:
        async with run_server(settings) as srv, holder.connect() as conn:
            store = srv.services.store
            a, b = await running(store, 2)
            group = GroupCommit(store)
            await conn.begin()  # an admin's transaction, a sweep, a cancel: a's row is held
            await conn.execute(sa.select(Run.id).where(Run.id == a.id).with_for_update())
            a_write = asyncio.create_task(
                group.write_progress(a.id, "lease-0", *one_event(a, "a waits"))
            )
            await until_someone_waits_for_a_lock(conn)
            b_write = asyncio.create_task(
                group.write_progress(b.id, "lease-1", *one_event(b, "b moves"))
            )
            try:
                done, _ = await asyncio.wait({a_write, b_write}, return_when="FIRST_COMPLETED")
                assert b_write in done and not a_write.done(), (
                    f"b's write waited behind a's held row; a ended first with {a_write!r}"
                )
            finally:
                await conn.rollback()
                await asyncio.gather(a_write, b_write, return_exceptions=True)
    finally:
        await holder.dispose()


async def test_a_failed_group_retried_write_by_write_does_not_wait_on_a_held_row(
    make_settings: Any, backend: str
) -> None:
    """A group [a (row held), x (fails: its seq is already stored), c] fails; each write is
    then tried alone, still skipping a's held row, so c does not wait for it."""
    if backend != "postgresql":
        pytest.skip("row locks held by another transaction exist on PostgreSQL only")
    settings = make_settings(run_jobs=False, store_statement_timeout_s=2)
    holder = db.create_engine(settings.database_url, settings)
    try:
        async with run_server(settings) as srv, holder.connect() as conn:
            store = srv.services.store
            a, x, c = await running(store, 3)
            await store.write_progress(x.id, "lease-1", *one_event(x, "x, stored once"))
            group = GroupCommit(store)
            await conn.begin()
            await conn.execute(sa.select(Run.id).where(Run.id == a.id).with_for_update())
            writes = [
                asyncio.create_task(group.write_progress(run.id, f"lease-{i}", *one_event(run, m)))
                for i, (run, m) in enumerate(((a, "a"), (x, "x again, same seq"), (c, "c")))
            ]  # all three queued before the committer starts: one group
            a_write, _, c_write = writes
            try:
                done, _ = await asyncio.wait({a_write, c_write}, return_when="FIRST_COMPLETED")
                assert c_write in done and not a_write.done(), (
                    f"c's write waited behind a's held row; a ended first with {a_write!r}"
                )
            finally:
                await conn.rollback()
                await asyncio.gather(*writes, return_exceptions=True)
    finally:
        await holder.dispose()


# -- a writer cancelled while its write is in flight ----------------------------------------


class Gated:
    """The real run store, with a gate in front of each transaction (to cancel in flight)."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    async def write_progress_many(
        self, writes: Sequence[ProgressWrite], *, skip_locked: bool = False
    ) -> list[Requests | LeaseLost | RowBusy]:
        self.entered.set()
        await self.gate.wait()
        return await self.store.write_progress_many(writes, skip_locked=skip_locked)


async def test_a_writer_cancelled_while_its_write_commits_records_and_shows_it(
    make_settings: Any,
) -> None:
    """Cancel a writer's flush while its write is in the group's transaction (`Runner.stop`
    cancelling a run that waits in `writer.close()`, say): the flush waits for the outcome,
    so the writer's seq matches the table, the committed events are shown, and its next
    flush does not send the same seqs again."""
    async with run_server(make_settings(run_jobs=False)) as srv:
        store = srv.services.store
        (run,) = await running(store, 1)
        gated = Gated(store)
        group = GroupCommit(gated)  # type: ignore[arg-type]
        published: list[RunEvent] = []

        async def publish(run_id: str, events: list[RunEvent]) -> None:
            published.extend(events)

        writer = ProgressWriter(
            group, publish, run_id=run.id, lease="lease-0", seq=run.seq,
            interval_s=0.0, heartbeat_s=60.0,
        )  # fmt: skip
        data: Any = {"run_id": run.id, "seq": 0, "status": "running", "message": "step 1"}
        writer.offer_milestone(Draft(data, {"message": "step 1"}))
        flush = asyncio.create_task(writer.flush())
        await gated.entered.wait()  # taken into a group, not merely queued
        flush.cancel()
        await asyncio.sleep(0)  # the cancellation reaches the waiting writer
        gated.gate.set()  # the transaction commits
        with pytest.raises(asyncio.CancelledError):
            await flush  # still cancelled, once it recorded what was written
        assert [e.data["message"] for e in published] == ["step 1"], "shown, as stored"
        stored = (await store.get_run("acme", run.id)).seq
        again: BaseException | None = None
        try:
            await writer.flush()  # what `close()` does next
        except Exception as exc:
            again = exc
        assert (writer.seq, again) == (stored, None), (
            f"table at seq {stored}, writer at {writer.seq}, published {len(published)} events; "
            f"its next flush: {type(again).__name__}"
        )
