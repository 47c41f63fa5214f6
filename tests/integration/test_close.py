"""The month-end close on both databases: import (with a file) -> depreciation -> lock, as
one batch; a month is never locked without its posting (issue 18)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from progress_sse.accounting.depreciation.job import ASSET_DEPRECIATION
from progress_sse.accounting.seed import seed_assets
from progress_sse.jobs.context import JobContext
from progress_sse.settings import Settings
from tests.integration.test_asset_import import csv_text, good_rows
from tests.integration.test_batches import check_counts, show, statuses, watch
from tests.integration.test_cli_runs import cli, no_traceback
from tests.integration.test_depreciation import ASSETS, MONTH, YEAR, failing_at_60
from tests.support import Server, run_server, run_status, tripping, wait_for

pytestmark = pytest.mark.asyncio
# the test register's assets depreciate from 2001: post this month although those are not
CLOSE = f"/api/close/{YEAR}/{MONTH}?allow_earlier_unposted=true"


@pytest.fixture
async def register(settings: Settings) -> int:
    return await seed_assets(settings, "acme", ASSETS)


async def close(client: httpx.AsyncClient, body: bytes = b"") -> dict[str, Any]:
    response = await client.post(CLOSE, content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 202, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def locked(client: httpx.AsyncClient) -> list[str]:
    return [p["period"] for p in (await client.get("/api/periods")).json()["data"]]


async def test_a_close_posts_the_month_then_locks_it(server: Server, register: int) -> None:
    async with server.client() as client:
        batch = await close(client)
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
        posting = await run_status(client, done["children"][0]["run_id"])
        months = await locked(client)
        again = await client.post(CLOSE)
    assert batch["name"] == f"Month-end close {YEAR}-{MONTH:02d}"
    assert [c["name"] for c in done["children"]] == ["Depreciation", "Lock the period"]
    assert [f.event for f in frames][-2:] == ["complete", "end"]
    check_counts(frames, 2)
    assert statuses(done) == ["succeeded", "succeeded"]
    assert posting["kind"] == "asset_depreciation" and posting["batch_id"] == batch["id"]
    assert posting["result"]["records_processed"] > 0
    assert months == [f"{YEAR}-{MONTH:02d}"]
    assert again.status_code == 409 and again.json()["error"]["code"] == "period_locked"


async def test_a_close_with_a_file_imports_the_new_assets_first(
    server: Server, register: int
) -> None:
    async with server.client() as client:
        batch = await close(client, csv_text(good_rows(12)).encode())
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
        imported = await run_status(client, done["children"][0]["run_id"])
    assert [c["kind"] for c in done["children"]] == [
        "asset_import", "asset_depreciation", "period_lock",
    ]  # fmt: skip
    assert frames[-2].event == "complete" and statuses(done) == ["succeeded"] * 3
    assert imported["result"]["records_processed"] == 12
    children = done["children"]
    assert children[0]["finished_at"] <= children[1]["started_at"]


async def test_a_failed_posting_leaves_the_month_open_and_a_resume_finishes_it(
    make_settings: Any,
) -> None:
    settings = make_settings()
    await seed_assets(settings, "acme", ASSETS)
    async with run_server(settings) as srv, srv.client() as client:
        srv.services.registry.replace(tripping(ASSET_DEPRECIATION, failing_at_60))
        batch = await close(client)
        first = await watch(client, batch)
        failed = await show(client, batch["id"])
        open_months = await locked(client)
        srv.services.registry.replace(ASSET_DEPRECIATION)
        resumed = await client.post(f"/api/batches/{batch['id']}/resume")
        second = await watch(client, batch, after=first[-2].seq)
        done = await show(client, batch["id"])
        closed_months = await locked(client)
    assert first[-2].event == "error" and statuses(failed) == ["failed", "skipped"]
    assert failed["children"][1]["reason"] == (
        "skipped: it waits for child 0 (Depreciation), which failed"
    )
    assert open_months == [], "never locked without its posting"
    assert resumed.status_code == 202 and second[-2].event == "complete"
    assert done["children"][0]["run_id"] == failed["children"][0]["run_id"], "resumed in place"
    assert closed_months == [f"{YEAR}-{MONTH:02d}"]


async def slowly(_ctx: JobContext, _report: dict[str, Any]) -> None:
    await asyncio.sleep(0.02)


async def test_one_close_of_a_month_at_a_time_and_a_cancel_leaves_it_open(
    make_settings: Any,
) -> None:
    settings = make_settings()
    await seed_assets(settings, "acme", ASSETS)
    async with run_server(settings) as srv, srv.client() as client:
        srv.services.registry.replace(tripping(ASSET_DEPRECIATION, slowly))
        batch = await close(client)
        second = await client.post(CLOSE)

        async def posting() -> bool:
            return bool((await show(client, batch["id"]))["children"][0]["percentage"] > 20)

        await wait_for(posting)
        cancelled = await client.post(f"/api/batches/{batch['id']}/cancel")
        frames = await watch(client, batch)
        done = await show(client, batch["id"])
        months = await locked(client)
    assert second.status_code == 409 and second.json()["error"]["code"] == "run_active"
    assert cancelled.status_code == 202 and frames[-2].event == "cancelled"
    assert statuses(done) == ["cancelled", "skipped"] and months == []


async def test_only_an_admin_closes_a_month_and_a_bad_one_is_refused(
    server: Server, register: int
) -> None:
    async with server.client("acme-member") as member, server.client() as admin:
        as_member = await member.post(CLOSE)
        thirteenth = await admin.post(f"/api/close/{YEAR}/13")
        unposted = await admin.post(f"/api/close/{YEAR}/{MONTH}")
        not_a_flag = await admin.post(f"{CLOSE}x")
        bad_file = await admin.post(CLOSE, content=b"x,y\n1,2\n")
        listed = (await admin.get("/api/batches")).json()["data"]
    assert as_member.status_code == 403
    assert thirteenth.status_code == 422 and not_a_flag.status_code == 422
    assert unposted.status_code == 409
    assert unposted.json()["error"]["code"] == "earlier_period_unposted", "refused up front"
    assert bad_file.status_code == 422 and listed == []


async def test_the_close_from_the_command_line(
    server: Server, register: int, tmp_path: Path
) -> None:
    new_assets = tmp_path / "new.csv"
    new_assets.write_text(csv_text(good_rows(5)))
    flag = "--allow-earlier-unposted"
    member = await cli(
        server, "close", "--year", str(YEAR), "--month", str(MONTH), key="acme-member"
    )
    watched = await cli(server, "close", "--year", str(YEAR), "--month", str(MONTH), flag,
                        "--file", str(new_assets), "--watch")  # fmt: skip
    again = await cli(server, "close", "--year", str(YEAR), "--month", str(MONTH), flag)
    async with server.client() as client:
        (batch,) = (await client.get("/api/batches")).json()["data"]
    assert member.code == 1 and "admin" in member.err
    assert watched.code == 0, watched.err
    assert statuses(batch) == ["succeeded"] * 3
    for child in ("Import assets", "Depreciation", "Lock the period"):
        assert child in watched.out
    assert again.code == 1 and "period_locked" in again.err
    no_traceback(watched)
