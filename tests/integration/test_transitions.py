"""The run store ends runs only along the transitions statuses.py allows: each ending is its
own function, and none of them moves a run that is not where the table says it may leave."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from progress_sse.runs.statuses import RunStatus
from progress_sse.runs.store import Failure, NewRun, RunStore
from progress_sse.web.services import Services
from tests.support import Server, collect, run_server, start_run

FAILURE = Failure("Reset by an admin.", "reset_by_admin", "Reset by an admin.")


async def pending_run(store: RunStore) -> str:
    run, _ = await store.create_run(
        NewRun(tenant_id="acme", kind="demo", params={}, lock_key=None, idempotency_key=None,
               created_by="test")
    )  # fmt: skip
    return run.id


@pytest.fixture
async def no_jobs(make_settings: Any) -> AsyncIterator[Server]:
    """A server that runs no jobs: a pending run stays pending until the test moves it."""
    async with run_server(make_settings(run_jobs=False)) as srv:
        yield srv


def store_of(server: Server) -> RunStore:
    services: Services = server.services
    return services.store


async def test_a_completed_run_cannot_be_reset_failed_or_cancelled(server: Server) -> None:
    async with server.client() as client:
        run_id = await start_run(client, items=1, delay_ms=0)
        await collect(client, f"/api/runs/{run_id}/events")
    store = store_of(server)
    with pytest.raises(ValueError, match="may not go from completed to failed"):
        await store.reset(run_id, RunStatus.COMPLETED, FAILURE)
    assert await store.fail_abandoned(run_id, FAILURE) is None, "it is not running"
    assert await store.cancel_pending(run_id) is None, "it is not pending"
    assert (await store.get_run("acme", run_id)).status == "completed"


async def test_a_pending_run_is_not_completed_or_failed_by_a_worker(no_jobs: Server) -> None:
    store = store_of(no_jobs)
    run_id = await pending_run(store)
    assert await store.complete(run_id, lease="anything", result={}, steps=()) is None
    assert await store.fail(run_id, lease="anything", failure=FAILURE, steps=()) is None
    event = await store.cancel_pending(run_id)
    assert event is not None and event.event is not None and event.event.value == "cancelled"
    assert (await store.get_run("acme", run_id)).status == "cancelled"


async def test_a_reset_names_the_status_it_expects(no_jobs: Server) -> None:
    store = store_of(no_jobs)
    run_id = await pending_run(store)
    assert await store.reset(run_id, RunStatus.RUNNING, FAILURE) is None, "it was pending"
    ended = await store.reset(run_id, RunStatus.PENDING, FAILURE)
    assert ended is not None and ended.data["error_code"] == "reset_by_admin"
