"""`complete` only after COMMIT, `error` only after ROLLBACK, cancel at a checkpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from progress_sse.jobs.context import JobContext
from progress_sse.jobs.demo import STEPS, DemoParams
from progress_sse.jobs.demo.models import DemoItem
from progress_sse.jobs.kinds import JobKind
from progress_sse.settings import Settings
from progress_sse.storage import db
from tests.support import Server, collect, run_server, run_status, sse_frames, start_run, wait_for


@pytest.fixture
async def other_connection(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """A second engine on the business database: what other workers would see."""
    engine = db.create_engine(settings.business_url, settings)
    yield engine
    await engine.dispose()


async def business_rows(engine: AsyncEngine, run_id: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).select_from(DemoItem).where(DemoItem.run_id == run_id)
        )
    return int(count or 0)


async def test_complete_arrives_only_after_rows_are_committed(
    server: Server, other_connection: AsyncEngine
) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=25, delay_ms=2, hold_ms=300)
        rows_during_finalize: list[int] = []
        rows_at_complete = None
        events = []
        async for frame in sse_frames(client, f"/api/runs/{run_id}/events"):
            events.append(frame.event)
            step = frame.data.get("step") or {}
            if step.get("name") == "finalize":
                rows_during_finalize.append(await business_rows(other_connection, run_id))
            if frame.event == "complete":
                # The moment `complete` is read, another connection sees every row.
                rows_at_complete = await business_rows(other_connection, run_id)
    assert events[-2:] == ["complete", "end"]
    assert rows_at_complete == 25
    assert rows_during_finalize and set(rows_during_finalize) == {0}, "rows visible before COMMIT"


async def test_failing_job_rolls_back_then_reports_error(
    server: Server, other_connection: AsyncEngine
) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=30, delay_ms=1, fail_at=20)
        frames = await collect(client, f"/api/runs/{run_id}/events")
        error = frames[-2]
        assert error.event == "error" and error.data["success"] is False
        assert error.data["error_code"] == "demo_failure"
        assert error.data["message"] == "Item 20 could not be processed (demo failure)."
        assert await business_rows(other_connection, run_id) == 0
        state = await run_status(client, run_id)
    assert state["status"] == "failed" and state["error_code"] == "demo_failure"
    process = next(s for s in state["steps"] if s["name"] == "process")
    assert process["status"] == "failed"
    assert [s["status"] for s in state["steps"]][-1] == "pending"


async def _leaky_job(ctx: JobContext, params: DemoParams) -> dict[str, Any]:
    async with ctx.step("init"):
        session = await ctx.session()
        await session.execute(
            sa.insert(DemoItem).values(
                tenant_id=ctx.tenant_id,
                run_id=ctx.run_id,
                item_no=1,
                value=1,
                created_at=sa.func.now(),
            )
        )
        raise RuntimeError("password=hunter2 SELECT * FROM secret_table")


async def test_unexpected_exception_shows_a_safe_message(make_settings, other_connection) -> None:  # type: ignore[no-untyped-def]
    leaky = JobKind(name="leaky", params=DemoParams, run=_leaky_job, steps=STEPS)
    async with run_server(make_settings(), jobs=[leaky]) as srv, srv.client() as client:
        run_id = await start_run(client, "leaky")
        frames = await collect(client, f"/api/runs/{run_id}/events")
        body = (await client.get(f"/api/runs/{run_id}")).text + str(frames)
    assert frames[-2].event == "error" and frames[-2].data["error_code"] == "internal_error"
    assert "hunter2" not in body and "secret_table" not in body and "Traceback" not in body
    assert run_id in frames[-2].data["message"], "the message points operators to the log"
    assert await business_rows(other_connection, run_id) == 0


async def test_cancel_mid_run_rolls_back_and_emits_cancelled(
    server: Server, other_connection: AsyncEngine
) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=2000, delay_ms=5)
        await wait_for(lambda: _processed_some(client, run_id))
        response = await client.post(f"/api/runs/{run_id}/cancel")
        assert response.status_code == 202
        frames = await collect(client, f"/api/runs/{run_id}/events", limit_s=10)
        state = await run_status(client, run_id)
        again = await client.post(f"/api/runs/{run_id}/cancel")
    assert frames[-2].event == "cancelled" and frames[-2].data["success"] is False
    assert frames[-2].data["error_code"] == "cancelled"
    assert state["status"] == "cancelled" and state["processed"] < 2000
    assert await business_rows(other_connection, run_id) == 0
    assert again.status_code == 409 and again.json()["error"]["code"] == "run_finished"


async def _processed_some(client: Any, run_id: str) -> bool:
    return bool((await run_status(client, run_id))["processed"] >= 5)


async def test_cancel_of_a_pending_run_ends_it_at_once(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        run_id = await start_run(client, items=5)
        response = await client.post(f"/api/runs/{run_id}/cancel")
        frames = await collect(client, f"/api/runs/{run_id}/events", limit_s=5)
    assert response.status_code == 202 and response.json()["data"]["status"] == "cancelled"
    assert [f.event for f in frames] == ["cancelled", "end"]


async def test_closing_the_watcher_does_not_stop_the_job(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=40, delay_ms=5)
        await collect(client, f"/api/runs/{run_id}/events", stop=lambda f: True)
        state = await wait_for(lambda: _finished(client, run_id))
    assert state["status"] == "completed" and state["processed"] == 40


async def _finished(client: Any, run_id: str) -> dict[str, Any] | None:
    state = await run_status(client, run_id)
    return state if state["status"] in ("completed", "failed", "cancelled") else None


async def test_a_busy_database_at_the_final_write_is_retried_not_left_running(
    server: Server,
) -> None:
    """ "database is locked" while writing the outcome: the runner tries again.

    A failed run's outcome is always its own write after the rollback, on both
    databases (a completed one shares the business COMMIT on PostgreSQL).
    """
    from sqlalchemy.exc import OperationalError

    store = server.services.store
    real_fail = store.fail
    failures = []

    async def flaky_fail(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise OperationalError("UPDATE runs", {}, Exception("database is locked"))
        return await real_fail(*args, **kwargs)

    store.fail = flaky_fail  # type: ignore[method-assign]
    async with server.client() as client:
        run_id = await start_run(client, items=3, delay_ms=0, fail_at=2)
        frames = await collect(client, f"/api/runs/{run_id}/events")
    assert failures == [1] and frames[-2].event == "error"
    assert frames[-2].data["error_code"] == "demo_failure"
