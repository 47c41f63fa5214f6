"""Batches over HTTP, on SQLite and PostgreSQL: a set of runs started, watched, cancelled
and resumed as one, with counts that add up at every event (issue 18)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import Frame, Server, collect, wait_for

pytestmark = pytest.mark.asyncio
COUNTS = ("succeeded", "failed", "cancelled", "skipped", "running", "pending")


def demo(name: str, *, items: int = 5, delay_ms: int = 5, **more: Any) -> dict[str, Any]:
    """A demo child with a lock of its own (two demo runs on one lock may not overlap)."""
    params = {"items": items, "delay_ms": delay_ms, "lock": name, **more}
    return {"name": name, "kind": "demo", "params": params}


async def start(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/batches", json=body)
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def show(client: httpx.AsyncClient, batch_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/batches/{batch_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def ended(client: httpx.AsyncClient, batch_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        batch = await show(client, batch_id)
        return batch if batch["status"] in ("completed", "failed", "cancelled") else None

    result: dict[str, Any] = await wait_for(done)
    return result


def check_counts(frames: list[Frame], size: int) -> None:
    """Every event's counts add up to the batch's size; 100 % only on `complete`."""
    for frame in frames:
        if frame.event == "end":
            continue
        counts = frame.data["counts"]
        assert sum(counts[k] for k in COUNTS) == size, frame
        if frame.event != "complete":
            assert frame.data["percentage"] < 100, frame


async def test_a_sequence_runs_each_child_after_the_one_before(server: Server) -> None:
    async with server.client() as client:
        batch = await start(client, name="Three in a row", children=[demo("a"), demo("b"), demo("c")])
        assert batch["counts"]["running"] == 1 and batch["counts"]["pending"] == 2
        frames = await collect(client, batch["events_url"].removeprefix(""), limit_s=60)
        done = await show(client, batch["id"])
    assert frames[-1].event == "end" and frames[-2].event == "complete"
    check_counts(frames, 3)
    assert frames[-2].data["counts"]["succeeded"] == 3
    assert [c["status"] for c in frames[-2].data["children"]] == ["succeeded"] * 3
    assert done["status"] == "completed" and done["percentage"] == 100.0
    starts = [c["started_at"] for c in done["children"]]
    ends = [c["finished_at"] for c in done["children"]]
    assert ends[0] <= starts[1] and ends[1] <= starts[2]  # one after the other
    percentages = [f.data["percentage"] for f in frames if f.event in ("message", "complete")]
    assert percentages == sorted(percentages)
