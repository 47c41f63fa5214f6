"""Progress never waits on business work: a long business transaction keeps heartbeating."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from progress_sse.jobs.demo.models import DemoItem
from progress_sse.storage import db
from tests.support import in_finalize, run_server, run_status, start_run, wait_for

# The job keeps its write transaction open this long, three stale thresholds, so a look
# before COMMIT sees a heartbeat a threshold newer than the first look's even if it comes late.
HOLD_S = 3.0


@dataclass(frozen=True)
class Sample:
    """One look from outside while the run was still running."""

    heartbeat_at: datetime
    stale: bool
    step: int
    message: str
    rows_visible: int  # the job's business rows, counted just after reading the run


async def test_long_business_transaction_keeps_heartbeat_and_progress_visible(
    make_settings: Any,
) -> None:
    """Judged by the server's timestamps, not by how many looks a busy machine managed."""
    settings = make_settings(stale_after_s=1.0, heartbeat_interval_s=0.2)
    stale_after = timedelta(seconds=settings.stale_after_s)
    other = db.create_engine(settings.business_url, settings)
    try:
        async with run_server(settings) as srv, srv.client() as client:
            run_id = await start_run(client, items=5, delay_ms=0, hold_ms=int(HOLD_S * 1000))
            await wait_for(lambda: in_finalize(client, run_id))
            samples = await _look_until_finished(client, other, run_id)
            final = await client.get(f"/api/runs/{run_id}")
    finally:
        await other.dispose()
    run = final.json()["data"]
    assert run["status"] == "completed" and run["result"]["items"] == 5

    # Progress is visible from outside before COMMIT: the run already says "Committing"
    # while its rows, counted after that read, are still invisible.
    before_commit = [s for s in samples if s.rows_visible == 0]
    assert before_commit, "the first look came right after entering finalize, seconds early"
    assert all(s.step == 4 and s.message == "Committing" for s in samples)
    assert all(s.rows_visible in (0, 5) for s in samples), "all rows commit at once"

    # Heartbeats went on inside the open transaction for longer than the stale threshold
    # (timestamps of the one clock that writes them, whatever the gaps between looks).
    beats = [s.heartbeat_at for s in before_commit]
    assert beats == sorted(beats), "heartbeat_at only moves forward"
    assert beats[-1] - beats[0] > stale_after, beats
    assert not any(s.stale for s in samples), "a run holding its transaction is never stale"


async def _look_until_finished(
    client: httpx.AsyncClient, other: AsyncEngine, run_id: str
) -> list[Sample]:
    """Read the run, then count its committed rows, every 0.1 s while it runs (bounded)."""
    samples: list[Sample] = []
    for _ in range(int((HOLD_S + 30) / 0.1)):
        state = await run_status(client, run_id)
        if state["status"] != "running":
            return samples
        async with other.connect() as conn:
            visible = await conn.scalar(
                sa.select(sa.func.count()).select_from(DemoItem).where(DemoItem.run_id == run_id)
            )
        samples.append(
            Sample(
                heartbeat_at=_time(state["heartbeat_at"]),
                stale=state["stale"],
                step=state["current_step"],
                message=state["message"],
                rows_visible=int(visible or 0),
            )
        )
        await asyncio.sleep(0.1)
    raise AssertionError("the run did not finish")


def _time(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))
