"""Pause and continue, on SQLite and PostgreSQL (issue 19): a run stops after the chunk it
is in commits, holds nothing while paused, survives a restart, and continues with the next
chunk to exactly the register an uninterrupted import gives; a one-transaction run refuses.

The reference is the same file imported without a pause, into another tenant.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from progress_sse.accounting.asset_import.job import ASSET_IMPORT
from progress_sse.accounting.asset_import.models import ImportChunk
from progress_sse.accounting.depreciation.models import Asset
from progress_sse.jobs.context import JobContext
from progress_sse.settings import Settings
from progress_sse.storage import db
from tests.integration.test_asset_import import after_chunk, csv_text, good_rows, upload
from tests.support import Frame, Server, collect, run_server, run_status, tripping, wait_for

pytestmark = pytest.mark.asyncio
ASSET_COLUMNS = [c for c in Asset.__table__.c if c.name not in ("id", "created_at", "updated_at")]


async def register(settings: Settings, tenant: str) -> list[tuple[Any, ...]]:
    """A tenant's asset register as stored, without ids and times (tenant column dropped)."""
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(*ASSET_COLUMNS).where(Asset.tenant_id == tenant).order_by(Asset.code)
            )
            return [tuple(v for c, v in zip(ASSET_COLUMNS, r, strict=True) if c.name != "tenant_id")
                    for r in rows]  # fmt: skip
    finally:
        await engine.dispose()


async def chunks_of(settings: Settings, run_id: str) -> list[int]:
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                sa.select(ImportChunk.chunk_index).where(ImportChunk.run_id == run_id)
            )
            return sorted(r[0] for r in rows)
    finally:
        await engine.dispose()


class Hold:
    """The import's first attempt waits, after its second chunk committed, until released:
    the moment a person presses Pause in the middle of an import."""

    def __init__(self) -> None:
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def __call__(self, ctx: JobContext, report: dict[str, Any]) -> None:
        if ctx.attempt == 1 and after_chunk(report, 10):
            self.reached.set()
            await asyncio.wait_for(self.release.wait(), 30)


async def paused_import(srv: Server, client: httpx.AsyncClient) -> str:
    """An import of 23 rows in chunks of 5, paused by a person after its second chunk."""
    hold = Hold()
    srv.services.registry.replace(tripping(ASSET_IMPORT, hold))
    run_id = await upload(client, csv_text(good_rows(23)), chunk_size=5)
    await asyncio.wait_for(hold.reached.wait(), 30)
    assert (await pause(client, run_id)).status_code == 202
    hold.release.set()
    await wait_for(lambda: status_is(client, run_id, "paused"))
    srv.services.registry.replace(ASSET_IMPORT)
    return run_id


async def pause(client: httpx.AsyncClient, run_id: str) -> httpx.Response:
    return await client.post(f"/api/runs/{run_id}/pause")


async def status_is(client: httpx.AsyncClient, run_id: str, status: str) -> dict[str, Any] | None:
    state = await run_status(client, run_id)
    return state if state["status"] == status else None


def is_paused(frame: Frame) -> bool:
    return frame.event == "message" and frame.data.get("status") == "paused"


async def test_a_paused_import_survives_a_restart_and_continues_to_the_same_register(
    make_settings: Any,
) -> None:
    settings = make_settings(stale_after_s=1.0)
    rows = good_rows(23)  # chunks of 5: 0-4 committed in turn
    hold = Hold()
    async with run_server(settings) as srv, srv.client() as client:
        srv.services.registry.replace(tripping(ASSET_IMPORT, hold))
        run_id = await upload(client, csv_text(rows), chunk_size=5)
        await asyncio.wait_for(hold.reached.wait(), 30)
        asked = await pause(client, run_id)
        assert asked.status_code == 202, asked.text
        assert asked.json()["data"]["status"] == "running"
        assert asked.json()["data"]["pause_requested"] is True
        hold.release.set()
        before = await collect(
            client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"}, stop=is_paused
        )
        paused = await run_status(client, run_id)
    assert before[-1].data["status"] == "paused", "watchers are told, and the stream stays open"
    assert paused["status"] == "paused" and paused["heartbeat_at"] is None
    assert paused["pause_requested"] is False and paused["stale"] is False
    assert await chunks_of(settings, run_id) == [0, 1], "it stopped after the chunk it was in"
    assert len(await register(settings, "acme")) == 10
    assert paused["processed"] == 10, "the bar shows what was committed"
    percentage_at_pause = paused["percentage"]

    async with run_server(settings) as srv, srv.client() as client:  # a restart while paused
        svc = srv.services
        await asyncio.sleep(settings.stale_after_s * 1.5)  # its heartbeat would be stale now
        assert await svc.liveness.sweep() == 0 and await svc.liveness.sweep_orphans() == 0
        assert (await status_is(client, run_id, "paused")) is not None, "never swept as stale"
        continued = await client.post(f"/api/runs/{run_id}/resume")
        assert continued.status_code == 202, continued.text
        assert continued.json()["data"]["status"] == "pending"
        after = await collect(
            client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": str(before[-1].seq)}
        )
        done = await run_status(client, run_id)
        async with srv.client("globex") as other:  # the same file, never paused
            reference = await upload(other, csv_text(rows), chunk_size=5)
            await collect(other, f"/api/runs/{reference}/events")
    assert after[0].data["message"].startswith("Continuing"), after[0]
    assert after[-2].event == "complete" and done["attempt"] == 2
    result = after[-2].data["result"]
    assert result["records_processed"] == 23 and result["chunks_from_earlier_attempts"] == 2
    seqs = [f.seq for f in before + after if f.event != "end"]
    assert seqs == sorted(set(seqs)), "event ids keep growing across the pause"
    bars = [f.data["percentage"] for f in after if f.event == "message"]
    assert min(bars) >= percentage_at_pause, "continuing never moves the bar backwards"
    assert await chunks_of(settings, run_id) == [0, 1, 2, 3, 4], "no chunk twice"
    assert await register(settings, "acme") == await register(settings, "globex")


async def test_a_one_transaction_run_refuses_to_pause(make_settings: Any) -> None:
    async with (
        run_server(make_settings(run_jobs=False)) as srv,  # it stays queued: no worker
        srv.client() as client,
    ):
        started = await client.post(
            "/api/runs", json={"kind": "asset_depreciation", "params": {"year": 2026, "month": 9}}
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        refused = await pause(client, run_id)
        state = await run_status(client, run_id)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "not_pausable" and "one transaction" in error["message"]
    assert state["status"] == "pending" and state["pausable"] is False


async def test_a_queued_run_pauses_at_once_and_a_worker_continues_it_later(
    make_settings: Any,
) -> None:
    queued_only = make_settings(run_jobs=False)  # no worker yet: the run stays queued
    async with run_server(queued_only) as srv, srv.client() as client:
        run_id = await upload(client, csv_text(good_rows(7)), chunk_size=5)
        first = await pause(client, run_id)
        again = await pause(client, run_id)
    async with run_server(make_settings()) as srv, srv.client() as client:  # a worker now
        assert (await status_is(client, run_id, "paused")) is not None, "no worker took it"
        continued = await client.post(f"/api/runs/{run_id}/resume")
        frames = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
    assert first.status_code == 202 and first.json()["data"]["status"] == "paused"
    assert first.json()["data"]["pausable"] is True
    assert again.status_code == 202 and again.json()["data"]["status"] == "paused", "idempotent"
    assert continued.status_code == 202
    assert frames[-2].event == "complete" and frames[-2].data["result"]["records_processed"] == 7
    assert [f.data["status"] for f in frames[:2]] == ["pending", "paused"]


async def test_a_paused_run_can_be_cancelled_and_keeps_what_it_committed(
    make_settings: Any,
) -> None:
    settings = make_settings()
    async with run_server(settings) as srv, srv.client() as client:
        run_id = await paused_import(srv, client)
        cancelled = await client.post(f"/api/runs/{run_id}/cancel")
        frames = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        finished = await pause(client, run_id)
        next_import = await client.post(
            "/api/assets/import?chunk_size=5&filename=register.csv",
            content=csv_text(good_rows(3)).encode(), headers={"Content-Type": "text/csv"},
        )  # fmt: skip
    assert cancelled.status_code == 202 and cancelled.json()["data"]["status"] == "cancelled"
    assert [f.event for f in frames[-2:]] == ["cancelled", "end"]
    assert "paused" in frames[-2].data["message"]
    assert await chunks_of(settings, run_id) == [0, 1], "what it committed stays"
    assert finished.status_code == 409 and finished.json()["error"]["code"] == "run_finished"
    assert next_import.status_code == 202, "a cancelled pause holds no lock"


async def test_a_paused_run_holds_its_lock_so_the_same_work_cannot_start_twice(
    make_settings: Any,
) -> None:
    async with run_server(make_settings()) as srv, srv.client() as client:
        run_id = await paused_import(srv, client)
        second = await client.post(
            "/api/assets/import?chunk_size=5&filename=other.csv",
            content=csv_text(good_rows(3)).encode(), headers={"Content-Type": "text/csv"},
        )  # fmt: skip
        active = (await client.get("/api/runs/active?kind=asset_import")).json()["data"]
    assert second.status_code == 409 and second.json()["error"]["code"] == "run_active"
    assert active["id"] == run_id and active["status"] == "paused", "the page finds it again"


async def test_a_kind_that_cannot_pause_and_a_batch_child_are_refused(
    make_settings: Any,
) -> None:
    async with run_server(make_settings()) as srv, srv.client() as client:
        demo = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"items": 2, "delay_ms": 1}}
        )
        demo_refused = await pause(client, demo.json()["id"])
        missing = await pause(client, "0" * 26)
        batch = await client.post("/api/batches", json={"name": "b", "children": [
            {"name": "one", "kind": "demo", "params": {"items": 50, "delay_ms": 20, "lock": "b"}},
        ]})  # fmt: skip
        assert batch.status_code == 202, batch.text
        child = batch.json()["data"]["children"][0]["run_id"]
        child_refused = await pause(client, child)
        await client.post(f"/api/batches/{batch.json()['data']['id']}/cancel")
    assert demo_refused.status_code == 409
    assert demo_refused.json()["error"]["code"] == "not_pausable"
    assert missing.status_code == 404
    assert child_refused.status_code == 409
    assert child_refused.json()["error"]["code"] == "in_batch"
    assert "/pause" in child_refused.json()["error"]["message"]


def demo_child(name: str, items: int, delay_ms: int) -> dict[str, Any]:
    params = {"items": items, "delay_ms": delay_ms, "lock": name}
    return {"name": name, "kind": "demo", "params": params}


async def batch_status(client: httpx.AsyncClient, batch_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/batches/{batch_id}")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def paused_batch(client: httpx.AsyncClient) -> dict[str, Any]:
    """A batch of two parts in sequence, paused while its first part runs."""
    started = await client.post("/api/batches", json={"name": "month", "children": [
        demo_child("first", 20, 40), demo_child("second", 3, 1),
    ]})  # fmt: skip
    assert started.status_code == 202, started.text
    batch = started.json()["data"]
    first = batch["children"][0]["run_id"]
    await wait_for(lambda: status_is(client, first, "running"))
    asked = await client.post(f"/api/batches/{batch['id']}/pause")
    assert asked.status_code == 202, asked.text
    assert asked.json()["data"]["status"] == "running", "the running part finishes first"
    assert asked.json()["data"]["pause_requested"] is True

    async def paused() -> dict[str, Any] | None:
        state = await batch_status(client, batch["id"])
        return state if state["status"] == "paused" else None

    return dict(await wait_for(paused))


async def test_a_batch_pauses_between_children_and_continues(make_settings: Any) -> None:
    async with run_server(make_settings()) as srv, srv.client() as client:
        batch = await paused_batch(client)
        again = await client.post(f"/api/batches/{batch['id']}/pause")
        before = await collect(
            client, batch["events_url"], headers={"Last-Event-ID": "0"}, stop=is_paused
        )
        continued = await client.post(f"/api/batches/{batch['id']}/resume")
        after = await collect(
            client, batch["events_url"], headers={"Last-Event-ID": str(before[-1].seq)}
        )
        done = await batch_status(client, batch["id"])
    first, second = batch["children"]
    assert first["status"] == "succeeded", "the part that was running finished"
    assert second["status"] == "pending" and second["run_id"] is None, "no part started"
    assert batch["counts"]["pending"] == 1 and batch["counts"]["succeeded"] == 1
    assert batch["pause_requested"] is False and batch["resumable"] is True
    assert again.status_code == 202 and again.json()["data"]["status"] == "paused"
    assert any(f.data.get("message", "").startswith("Pausing") for f in before)
    assert before[-1].data["counts"]["pending"] == 1 and before[-1].data["percentage"] < 100
    assert continued.status_code == 202 and continued.json()["data"]["status"] == "running"
    assert after[-2].event == "complete" and [c["status"] for c in done["children"]] == [
        "succeeded", "succeeded",
    ]  # fmt: skip
    seqs = [f.seq for f in before + after if f.event != "end"]
    assert seqs == sorted(set(seqs))


async def test_a_paused_batch_can_be_cancelled(make_settings: Any) -> None:
    async with run_server(make_settings()) as srv, srv.client() as client:
        batch = await paused_batch(client)
        cancelled = await client.post(f"/api/batches/{batch['id']}/cancel")
        frames = await collect(client, batch["events_url"], headers={"Last-Event-ID": "0"})
        done = await batch_status(client, batch["id"])
        ended = await client.post(f"/api/batches/{batch['id']}/pause")
    assert cancelled.status_code == 202
    assert [f.event for f in frames[-2:]] == ["cancelled", "end"]
    assert [c["status"] for c in done["children"]] == ["succeeded", "skipped"]
    assert ended.status_code == 409 and ended.json()["error"]["code"] == "run_finished"


# -- found by an outside attack, each a regression test --------------------------------


async def test_a_cancel_accepted_while_the_worker_pauses_still_cancels(make_settings: Any) -> None:
    """The API and the worker in two processes: the worker has seen the pause, then a cancel
    is answered 202 before the pause is written. The cancel wins."""
    hold = Hold()
    async with (
        run_server(make_settings()) as worker,
        run_server(make_settings(run_jobs=False)) as api,
        api.client() as client,
    ):
        worker.services.registry.replace(tripping(ASSET_IMPORT, hold))
        run_id = await upload(client, csv_text(good_rows(23)), chunk_size=5)
        await asyncio.wait_for(hold.reached.wait(), 30)
        assert (await pause(client, run_id)).status_code == 202
        execution = worker.services.runner.executions[run_id]

        async def seen() -> bool:
            return execution.writer.pause_requested

        await wait_for(seen)
        cancelled = await client.post(f"/api/runs/{run_id}/cancel")
        hold.release.set()
        ended = await wait_for(lambda: status_is(client, run_id, "cancelled"))
        log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
    assert cancelled.status_code == 202 and cancelled.json()["data"]["status"] == "running"
    assert ended["error_code"] == "cancelled"
    assert [e["event"] for e in log[-1:]] == ["cancelled"]
    assert not any(e["data"]["status"] == "paused" for e in log), "never shown paused"


async def test_cancel_and_resume_of_a_paused_run_at_once_never_answer_202_for_a_run_that_goes_on(
    make_settings: Any,
) -> None:
    async with (
        run_server(make_settings(run_jobs=False, rate_limit_starts="1000/minute")) as srv,
        srv.client() as client,
    ):
        for _ in range(20):
            run_id = await upload(client, csv_text(good_rows(3)), chunk_size=5)
            await pause(client, run_id)
            cancel, resume = await asyncio.gather(
                client.post(f"/api/runs/{run_id}/cancel"),
                client.post(f"/api/runs/{run_id}/resume"),
            )
            state = await run_status(client, run_id)
            if cancel.status_code == 202:  # cancelled; a resume after it may queue it again
                assert cancel.json()["data"]["status"] == "cancelled", resume.status_code
            if state["status"] != "cancelled":
                await client.post(f"/api/runs/{run_id}/cancel")  # free the lock for the next


async def test_an_admin_reset_fails_a_paused_batch_and_frees_its_lock(make_settings: Any) -> None:
    async with run_server(make_settings()) as srv, srv.client() as client:
        batch = await paused_batch(client)
        reset = await client.post("/api/admin/tenants/acme/reset")
        after = await batch_status(client, batch["id"])
        frames = await collect(client, batch["events_url"], headers={"Last-Event-ID": "0"})
    assert reset.json()["reset_count"] == 1
    assert after["status"] == "failed" and after["error_code"] == "reset_by_admin"
    assert [c["status"] for c in after["children"]] == ["succeeded", "skipped"]
    assert "administrator" in after["children"][1]["reason"]
    assert [f.event for f in frames[-2:]] == ["error", "end"]


async def test_an_admin_reset_of_a_pausing_batch_fails_it(make_settings: Any) -> None:
    """Its running child is failed by the reset; that would leave it paused, so it ends."""
    async with run_server(make_settings()) as srv, srv.client() as client:
        started = await client.post("/api/batches", json={"name": "b", "children": [
            demo_child("a", 400, 20), demo_child("b", 2, 1),
        ]})  # fmt: skip
        batch = started.json()["data"]
        await wait_for(lambda: status_is(client, batch["children"][0]["run_id"], "running"))
        assert (await client.post(f"/api/batches/{batch['id']}/pause")).status_code == 202
        await client.post("/api/admin/tenants/acme/reset")
        after = await batch_status(client, batch["id"])
    assert after["status"] == "failed"
    assert [c["status"] for c in after["children"]] == ["failed", "skipped"]


async def test_continuing_a_paused_batch_never_reruns_a_child_that_failed(
    make_settings: Any,
) -> None:
    async with run_server(make_settings()) as srv, srv.client() as client:
        failing = demo_child("a", 20, 20)
        failing["params"]["fail_at"] = 3
        started = await client.post("/api/batches", json={"name": "b", "parallel": True,
            "children": [failing, demo_child("b", 30, 40),
                         {**demo_child("c", 2, 1), "after": ["b"]}]})  # fmt: skip
        batch = started.json()["data"]
        a_run = batch["children"][0]["run_id"]
        await wait_for(lambda: status_is(client, batch["children"][1]["run_id"], "running"))
        assert (await client.post(f"/api/batches/{batch['id']}/pause")).status_code == 202

        async def paused() -> dict[str, Any] | None:
            state = await batch_status(client, batch["id"])
            return state if state["status"] == "paused" else None

        before = await wait_for(paused)
        resumed = await client.post(f"/api/batches/{batch['id']}/resume")
        await collect(client, batch["events_url"], headers={"Last-Event-ID": "0"})
        done = await batch_status(client, batch["id"])
        a_state = await run_status(client, a_run)
    assert [c["status"] for c in before["children"]] == ["failed", "succeeded", "pending"]
    assert resumed.status_code == 202
    assert [c["status"] for c in done["children"]] == ["failed", "succeeded", "succeeded"]
    assert done["children"][0]["run_id"] == a_run and a_state["attempt"] == 1, "not run again"
    assert done["status"] == "failed"
