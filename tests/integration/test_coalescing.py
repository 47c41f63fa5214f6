"""A job reporting every one of many items does not write a row per item."""

from __future__ import annotations

from datetime import datetime

from tests.support import collect, run_server, run_status, start_run


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_progress_writes_are_coalesced_to_about_ten_per_second(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with run_server(make_settings(progress_interval_s=0.1)) as srv, srv.client() as client:
        run_id = await start_run(client, items=30_000, delay_ms=0)
        frames = await collect(client, f"/api/runs/{run_id}/events", limit_s=60)
        state = await run_status(client, run_id)
        events = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    assert frames[-2].event == "complete" and state["processed"] == 30_000
    seconds = (_at(state["finished_at"]) - _at(state["started_at"])).total_seconds()
    milestones = 2 * 5 + 2  # each step starts and ends; the first and the terminal event
    assert len(events) <= 10 * seconds * 1.5 + milestones, (len(events), seconds)
    assert len(events) < 30_000 / 10
