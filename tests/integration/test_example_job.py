"""An outside package's job through every surface: examples/table-sync, installed by the
suite's test extra, is discovered through its entry point, migrated as its own branch,
started from the API and the command line, streamed, cancelled, failed and resumed."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from table_sync import source
from table_sync.models import SyncCheckpoint, SyncedRecord
from table_sync.source import Table

from progress_sse.settings import Settings
from progress_sse.storage import db
from tests.support import Frame, Server, collect, run_status, wait_for

CLI = str(Path(sys.executable).parent / "progress-sse")


async def records(settings: Settings, tenant: str = "acme") -> dict[str, int]:
    """Copied rows per source table (the application database)."""
    async with db.sessions_for(settings.business_url, settings) as sessions, sessions() as s:
        rows = await s.execute(
            sa.select(SyncedRecord.source_table, sa.func.count())
            .where(SyncedRecord.tenant_id == tenant)
            .group_by(SyncedRecord.source_table)
        )
        return {table: int(count) for table, count in rows}


async def start(server: Server, **params: Any) -> str:
    async with server.client() as client:
        response = await client.post("/api/runs", json={"kind": "table_sync", "params": params})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def step_names(frames: list[Frame]) -> list[str]:
    """Each step as the stream first reports it in progress."""
    names: list[str] = []
    for frame in frames:
        step = frame.data.get("step") if frame.event == "message" else None
        if step and step["status"] == "in_progress" and step["name"] not in names:
            names.append(step["name"])
    return names


async def test_the_kind_is_discovered_with_its_params_model(server: Server) -> None:
    async with server.client() as client:
        kinds = {k["name"]: k for k in (await client.get("/api/kinds")).json()["data"]}
    sync = kinds["table_sync"]
    assert sync["title"] == "Copy the legacy system's tables" and sync["resumable"] is True
    assert sync["steps"] is None, "its steps depend on the params: one per table"
    schema = sync["params_schema"]
    assert set(schema["properties"]) >= {"tables", "batch_size", "scale"}
    assert schema["$defs"]["Table"]["enum"] == [t.value for t in Table]


async def test_a_run_copies_each_table_as_its_own_step(server: Server, settings: Settings) -> None:
    run_id = await start(server, tables=["products", "customers"], batch_size=100, scale=0.5)
    async with server.client() as client:
        frames = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        run = await run_status(client, run_id)
    sizes = {
        "products": source.size(Table.PRODUCTS, 0.5),
        "customers": source.size(Table.CUSTOMERS, 0.5),
    }
    assert [f.event for f in frames][-2:] == ["complete", "end"]
    assert step_names(frames) == ["products", "customers"], "in the order asked"
    assert [(s["name"], s["status"]) for s in run["steps"]] == [
        ("products", "completed"), ("customers", "completed"),
    ]  # fmt: skip
    assert frames[-2].data["result"]["tables"] == sizes
    assert frames[-2].data["records_processed"] == sum(sizes.values())
    assert await records(settings) == sizes
    bar = [f.data["percentage"] for f in frames if f.event == "message"]
    assert bar == sorted(bar), "the bar never moves backwards across the tables"


async def test_a_failed_run_resumes_after_its_last_committed_batch(
    server: Server, settings: Settings
) -> None:
    run_id = await start(server, tables=["customers", "products"], batch_size=50, scale=0.1,
                         outage_after=2)  # fmt: skip
    async with server.client() as client:
        first = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        kept = await records(settings)
        state = await run_status(client, run_id)
        resumed = await client.post(f"/api/runs/{run_id}/resume")
        second = await collect(
            client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": str(first[-2].seq)}
        )
    assert first[-2].event == "error" and first[-2].data["error_code"] == "source_unavailable"
    assert kept == {"customers": 100}, "two batches of 50 were committed before the outage"
    assert state["resumable"] is True and resumed.status_code == 202
    assert second[-2].event == "complete"
    result = second[-2].data["result"]
    assert result["tables"] == {"customers": 120, "products": 30}
    assert result["batches"] == 2, "the resumed attempt copied only what was left: 20 + 30 rows"
    assert await records(settings) == {"customers": 120, "products": 30}, "no row twice"
    counted = [
        f.data["processed"] for f in second
        if f.event == "message" and (f.data["step"] or {}).get("name") == "customers"
        and f.data["processed"]
    ]  # fmt: skip
    assert counted and min(counted) >= 100, "it carried on from the checkpoint"


async def test_a_cancelled_run_keeps_its_batches_and_resumes(
    server: Server, settings: Settings
) -> None:
    run_id = await start(server, tables=["invoices"], batch_size=100, scale=0.2, delay_ms=100)
    async with server.client() as client:

        async def some_copied() -> bool:
            return (await records(settings)).get("invoices", 0) >= 200

        await wait_for(some_copied, limit_s=20)
        cancelled = await client.post(f"/api/runs/{run_id}/cancel")
        first = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        kept = (await records(settings))["invoices"]
        await client.post(f"/api/runs/{run_id}/resume")
        second = await collect(
            client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": str(first[-2].seq)}
        )
    assert cancelled.status_code == 202 and first[-2].event == "cancelled"
    assert 200 <= kept < 1000, "committed batches stay; the rest was never started"
    said = first[-2].data["message"]
    assert (
        said == f"Cancelled; the {kept // 100} batch(es) committed before it stay, and a "
        "resume carries on from there."
    ), "not 'nothing was changed': the batches stay"
    assert second[-2].event == "complete"
    assert await records(settings) == {"invoices": 1000}


async def test_each_tenant_copies_into_its_own_rows(server: Server, settings: Settings) -> None:
    for tenant in ("acme", "globex"):
        async with server.client(tenant) as client:
            started = await client.post(
                "/api/runs",
                json={"kind": "table_sync", "params": {"tables": ["products"], "scale": 0.1}},
            )
            await collect(client, started.json()["events_url"])
    assert await records(settings, "acme") == {"products": 30}
    assert await records(settings, "globex") == {"products": 30}


async def test_started_and_watched_from_the_command_line(
    server: Server, settings: Settings
) -> None:
    env = os.environ | {
        "PROGRESS_SSE_URL": server.base_url,
        "PROGRESS_SSE_API_KEY": server.keys["acme"],
    }
    described = await run_cli(env, "runs", "kinds", "table_sync")
    watched = await run_cli(
        env, "runs", "start", "table_sync", "-p", "tables=products,customers", "-p", "scale=0.1",
        "-p", "batch_size=50", "--watch",
    )  # fmt: skip
    assert described[0] == 0 and "batch_size" in described[1] and "products" in described[1]
    assert watched[0] == 0, watched[2]
    assert "complete" in watched[1].lower()
    assert await records(settings) == {"products": 30, "customers": 120}


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_the_checkpoints_belong_to_the_run(server: Server, settings: Settings) -> None:
    run_id = await start(server, tables=["products"], batch_size=100, scale=0.1)
    async with server.client() as client:
        await collect(client, f"/api/runs/{run_id}/events")
    async with db.sessions_for(settings.business_url, settings) as sessions, sessions() as s:
        saved = (await s.execute(sa.select(SyncCheckpoint))).scalars().all()
    assert [(c.run_id, c.source_table, c.last_key, c.batches) for c in saved] == [
        (run_id, "products", 30, 1)
    ]
