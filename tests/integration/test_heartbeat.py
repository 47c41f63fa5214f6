"""Progress never waits on business work: a long business transaction keeps heartbeating."""

from __future__ import annotations

import itertools
from datetime import datetime

import sqlalchemy as sa

from progress_sse import db
from progress_sse.jobs.demo.models import DemoItem
from tests.support import in_finalize, run_server, run_status, start_run, wait_for


async def test_long_business_transaction_keeps_heartbeat_and_progress_visible(
    make_settings,
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(stale_after_s=1.0, heartbeat_interval_s=0.2)
    other = db.create_engine(settings.business_url, settings)
    async with run_server(settings) as srv, srv.client() as client:
        # The job writes its rows, then holds the write transaction open for 2.5 s:
        # two and a half times the stale threshold.
        run_id = await start_run(client, items=5, delay_ms=0, hold_ms=2500)
        await wait_for(lambda: in_finalize(client, run_id))
        beats: list[datetime] = []
        visible_rows: list[int] = []
        while (state := await run_status(client, run_id))["status"] == "running":
            assert state["stale"] is False, "a run holding its transaction is not stale"
            assert state["message"] == "Committing" and state["current_step"] == 4
            beats.append(datetime.fromisoformat(state["heartbeat_at"].replace("Z", "+00:00")))
            async with other.connect() as conn:
                visible = await conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(DemoItem)
                    .where(DemoItem.run_id == run_id)
                )
            visible_rows.append(int(visible or 0))
            await _sleep(0.1)
        assert state["status"] == "completed"
    await other.dispose()
    # Only the last sample may fall between COMMIT and the `completed` update.
    assert len(visible_rows) >= 10 and set(visible_rows[:-1]) == {0}, visible_rows
    assert (beats[-1] - beats[0]).total_seconds() > settings.stale_after_s, "heartbeats went on"
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(beats)]
    assert max(gaps) < settings.stale_after_s


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)
