"""One stalled transaction stalls no one else (PostgreSQL: other processes share the rows).

Another transaction holds a run's row, as a worker frozen between its last
write and COMMIT does. Reads of that run, streams of other tenants' runs and
the stale sweeper must all go on; the held run is failed once the row is
free, and PostgreSQL frees it itself when the holder sits idle too long.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from progress_sse.accounting.depreciation.register import REGISTER_LOCK, register_key
from progress_sse.runs.events import utc_now
from progress_sse.runs.models import Run
from progress_sse.settings import Settings
from progress_sse.storage import db
from tests.integration.test_books import add_assets
from tests.support import Server, collect, run_server, run_status, start_run, wait_for


@pytest.fixture
def settings(make_settings: Any, backend: str) -> Settings:
    if backend != "postgresql":
        pytest.skip("on SQLite one process owns the file: no other transaction holds a run row")
    return make_settings(  # type: ignore[no-any-return]
        run_jobs=False, stale_after_s=2, sweep_interval_s=0.2, store_statement_timeout_s=1
    )


async def running_with_old_heartbeat(srv: Server, client: Any) -> str:
    """A run that looks like a dead worker's: running, its heartbeat an hour old (no worker
    id: only the heartbeat rule can judge it, not the orphan check of test_orphans.py)."""
    run_id = await start_run(client, items=1, delay_ms=0, lock=str(id(client)))
    async with srv.services.sessions.begin() as session:
        await session.execute(
            sa.update(Run).where(Run.id == run_id).values(
                status="running", lease_token="gone", worker_id=None,
                heartbeat_at=utc_now() - timedelta(hours=1),
            )
        )  # fmt: skip
    return run_id


@pytest.fixture
async def holder(settings: Settings) -> AsyncIterator[AsyncConnection]:
    """A plain connection (no timeouts of ours) that will hold a row in an open transaction."""
    engine = db.create_engine(settings.database_url, settings)
    async with engine.connect() as conn:
        yield conn
    await engine.dispose()


async def test_a_held_run_row_stalls_no_read_no_other_stream_and_not_the_sweeper(
    settings: Settings, holder: AsyncConnection
) -> None:
    async with run_server(settings) as srv, srv.client() as acme, srv.client("globex") as globex:
        held = await running_with_old_heartbeat(srv, acme)
        other = await running_with_old_heartbeat(srv, globex)
        await holder.begin()
        await holder.execute(sa.select(Run.id).where(Run.id == held).with_for_update())
        # Reads of the held run answer (it shows as stale), six watchers of it do not take
        # the openings another tenant's stream needs, and the sweeper fails the other run.
        shown = await asyncio.wait_for(run_status(acme, held), 5)
        watchers = [
            asyncio.create_task(collect(acme, f"/api/runs/{held}/events", limit_s=30))
            for _ in range(6)
        ]
        frames = await asyncio.wait_for(collect(globex, f"/api/runs/{other}/events"), 10)
        assert shown["status"] == "running" and shown["stale"] is True
        assert frames[-2].event == "error" and frames[-2].data["error_code"] == "stale"
        await holder.rollback()  # the holder lets go: the next sweep fails the held run too
        ended = await wait_for(lambda: _failed(acme, held), limit_s=10)
        seen = await asyncio.wait_for(asyncio.gather(*watchers), 10)
    assert ended["error_code"] == "stale"
    assert all(f[-2].event == "error" for f in seen), "every watcher got the end"


async def test_postgresql_ends_a_store_transaction_left_idle(
    settings: Settings,
) -> None:
    """A store connection frozen in a transaction is ended by the server (2 x the timeout)."""
    engine = db.store_engine(settings)
    try:
        async with run_server(settings) as srv, srv.client() as acme:
            held = await running_with_old_heartbeat(srv, acme)
            async with engine.connect() as frozen:
                await frozen.begin()
                await frozen.execute(sa.select(Run.id).where(Run.id == held).with_for_update())
                ended = await wait_for(lambda: _failed(acme, held), limit_s=15)
                with pytest.raises(sa.exc.DBAPIError):  # the server ended that session
                    await frozen.execute(sa.select(1))
    finally:
        await engine.dispose()
    assert ended["error_code"] == "stale"


async def _failed(client: Any, run_id: str) -> dict[str, Any] | None:
    state = await run_status(client, run_id)
    return state if state["status"] == "failed" else None


async def test_a_run_waiting_on_another_transactions_lock_says_whose_then_gives_up(
    make_settings: Any, backend: str
) -> None:
    """A frozen worker's transaction holds the register: the next attempt tells its
    watchers who holds the lock, and fails clearly once `business_lock_wait_s` passes."""
    if backend != "postgresql":
        pytest.skip("on SQLite the writer waits in slices and says so (test_writelock.py)")
    settings = make_settings(business_lock_wait_s=3)
    await add_assets(settings, {"code": "W", "acquired_on": date(2026, 1, 1)})
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with run_server(settings) as srv, srv.client() as client:
            async with engine.connect() as frozen:
                await frozen.begin()
                await frozen.execute(sa.text("SELECT 1"))
                session_pid = await frozen.scalar(sa.select(sa.func.pg_backend_pid()))
                await frozen.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(REGISTER_LOCK, register_key("acme")))
                )
                response = await client.post("/api/runs", json={
                    "kind": "asset_depreciation", "params": {"year": 2026, "month": 1},
                })  # fmt: skip
                frames = await collect(client, response.json()["events_url"], limit_s=30)
            journal = (await client.get("/api/depreciation/2026/1")).json()
    finally:
        await engine.dispose()
    messages = [f.data.get("message", "") for f in frames]
    assert any(f"PostgreSQL process {session_pid}" in m for m in messages), messages
    end = frames[-2]
    assert end.event == "error" and end.data["error_code"] == "lock_timeout"
    assert "waited 3 s for locks" in end.data["message"]
    assert journal["documents"] == [], "nothing was posted"
