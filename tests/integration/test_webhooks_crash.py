"""A worker killed after its run finished, before the webhook went out: the next one sends it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from progress_sse.webhooks.models import Notification
from tests.integration.test_multiprocess import FAST, free_port, spawn
from tests.receiver import Receiver, receiving
from tests.support import Server, collect, run_server, start_run, wait_for

pytestmark = pytest.mark.skipif(
    not __import__("tests.conftest", fromlist=["PG_URL"]).PG_URL,
    reason="worker processes need PostgreSQL",
)
# Waits of 1.5 s between attempts, a 0.5 s timeout: a row's lease is 2.5 s.
HOOKS = {
    "PROGRESS_SSE_WEBHOOK_ALLOW_PRIVATE": "true",
    "PROGRESS_SSE_WEBHOOK_BACKOFF_S": "1.5",
    "PROGRESS_SSE_WEBHOOK_MAX_BACKOFF_S": "1.5",
    "PROGRESS_SSE_WEBHOOK_JITTER_S": "0",
    "PROGRESS_SSE_WEBHOOK_TIMEOUT_S": "0.5",
    "PROGRESS_SSE_WEBHOOK_ATTEMPTS": "10",
    "PROGRESS_SSE_WEBHOOK_POLL_INTERVAL_S": "0.1",
}


@pytest.fixture
def backend() -> str:
    return "postgresql"


async def the_note(server: Server) -> Notification | None:
    async with server.services.sessions() as session:
        return (await session.execute(sa.select(Notification))).scalar_one_or_none()


async def test_the_notification_survives_kill_9_and_is_delivered_once_after_restart(
    db_urls: dict[str, str], make_settings: Any, tmp_path: Path
) -> None:
    env = {"PROGRESS_SSE_DATABASE_URL": db_urls["database_url"], **FAST, **HOOKS}
    port = free_port()  # the receiver is down at first: every attempt is refused
    settings = make_settings(run_jobs=False, webhook_allow_private=True)
    async with run_server(settings) as srv, srv.client() as client:
        hook = await client.post("/api/webhooks", json={"url": f"http://127.0.0.1:{port}/hook"})
        assert hook.status_code == 201
        async with spawn("worker", env=env, log=tmp_path / "first.log") as worker:
            run_id = await start_run(client, items=1, delay_ms=0)
            await collect(client, f"/api/runs/{run_id}/events")  # the run has ended
            note = await wait_for(lambda: _tried(srv), limit_s=20)
            worker.kill()  # kill -9 while it waits to try again
            await worker.wait()
        assert note.status == "pending" and note.delivered_at is None
        async with (
            receiving(Receiver(), port=port) as receiver,
            spawn("worker", env=env, log=tmp_path / "second.log"),
        ):
            done = await wait_for(lambda: _delivered(srv), limit_s=30)
            await asyncio.sleep(1.0)  # a duplicate would arrive now
    assert receiver.deliveries() == {note.id: 1}, "delivered once per delivery id"
    assert done.attempts > note.attempts, "the attempts of the killed worker still count"


async def _tried(server: Server) -> Notification | None:
    note = await the_note(server)
    return note if note is not None and note.attempts >= 1 else None


async def _delivered(server: Server) -> Notification | None:
    note = await the_note(server)
    return note if note is not None and note.status == "delivered" else None
