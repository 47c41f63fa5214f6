"""The asset import: bad rows skipped and listed, chunks committed, resumable without duplicates."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from progress_sse.accounting.asset_import.job import ASSET_IMPORT
from progress_sse.accounting.asset_import.models import AssetUpload, ImportChunk
from progress_sse.accounting.asset_import.parse import COLUMNS
from progress_sse.accounting.depreciation.models import Asset
from progress_sse.errors import RunCancelled
from progress_sse.jobs.context import JobContext
from progress_sse.settings import Settings
from progress_sse.storage import db
from tests.support import collect, run_server, run_status, tripping

HEADER = ",".join(COLUMNS)


def good_rows(n: int, name: str = "Truck") -> list[str]:
    return [
        f"A-{i:03d},{name} {i},Vehicles,2024-0{1 + i % 9}-15,{1000 + i}.50,0,,straight_line,,2,"
        for i in range(n)
    ]


def csv_text(rows: list[str]) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


async def upload(client: Any, text: str, chunk_size: int = 5) -> str:
    response = await client.post(
        f"/api/assets/import?chunk_size={chunk_size}&filename=register.csv",
        content=text.encode(), headers={"Content-Type": "text/csv"},
    )  # fmt: skip
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def business_count(settings: Settings, table: Any) -> int:
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)
    finally:
        await engine.dispose()


async def test_bad_rows_are_skipped_listed_and_never_abort(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    rows = good_rows(10)
    rows.insert(2, "B-1,Broken,X,2024-01-01,not-a-number,0,12,straight_line,,,")
    rows.insert(5, "B-2,Odd,X,2024-01-01,100,0,12,sum_of_digits,,,")
    rows.append("A-001,Duplicate,X,2024-01-01,100,0,12,straight_line,,,")
    async with run_server(settings) as srv, srv.client() as client:
        run_id = await upload(client, csv_text(rows))
        frames = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        log = (await client.get(f"/api/runs/{run_id}/log")).json()["data"]
        state = await run_status(client, run_id)
    result = frames[-2].data["result"]
    assert frames[-2].event == "complete" and result["records_processed"] == 10
    assert result["bad_row_count"] == 3
    lines = {b["line"]: b["reason"] for b in result["bad_rows"]}
    assert set(lines) == {4, 7, 14}
    assert "cost" in lines[4] and "sum_of_digits" in lines[7] and "duplicate" in lines[14]
    messages = [e["data"]["message"] for e in log]
    assert any(m.startswith("Line 4 (B-1) refused: cost") for m in messages), "bad rows are logged"
    validate = next(s for s in state["steps"] if s["name"] == "validate")
    assert validate["skipped"] == 3
    assert await business_count(settings, Asset) == 10


async def test_a_second_import_updates_by_code_without_duplicates(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    async with run_server(settings) as srv, srv.client() as client:
        first = await upload(client, csv_text(good_rows(8)))
        await collect(client, f"/api/runs/{first}/events")
        second = await upload(client, csv_text(good_rows(12, name="Van")), chunk_size=4)
        await collect(client, f"/api/runs/{second}/events")
        assets = (await client.get("/api/assets?limit=100")).json()["data"]
    assert len(assets) == 12
    assert {a["name"].split()[0] for a in assets} == {"Van"}


def after_chunk(report: dict[str, Any], rows: int) -> bool:
    """The report the import makes once a chunk committed and `rows` are in."""
    return report.get("processed") == rows and "message" in report


async def crash_on_first_attempt(ctx: JobContext, report: dict[str, Any]) -> None:
    if ctx.attempt == 1 and after_chunk(report, 10):
        raise RuntimeError("simulated crash after a committed chunk")


async def cancel_on_first_attempt(ctx: JobContext, report: dict[str, Any]) -> None:
    if ctx.attempt == 1 and after_chunk(report, 10):
        raise RunCancelled()  # as POST /cancel would, at this checkpoint


@pytest.mark.parametrize(
    ("hook", "ending"),
    [(crash_on_first_attempt, "error"), (cancel_on_first_attempt, "cancelled")],
)
async def test_resume_skips_committed_chunks_and_creates_no_duplicates(
    make_settings, hook: Any, ending: str
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    async with run_server(settings) as srv, srv.client() as client:
        srv.services.registry.replace(tripping(ASSET_IMPORT, hook))
        run_id = await upload(client, csv_text(good_rows(23)), chunk_size=5)  # 5 chunks
        first = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
        assert first[-2].event == ending
        assert await business_count(settings, Asset) == 10, "two chunks were committed"
        assert (await run_status(client, run_id))["resumable"] is True, "the page offers resume"
        resumed = await client.post(f"/api/runs/{run_id}/resume")
        assert resumed.status_code == 202 and resumed.json()["data"]["status"] == "pending"
        last_seen = first[-2].seq
        second = await collect(
            client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": str(last_seen)}
        )
        state = await run_status(client, run_id)
        again = await client.post(f"/api/runs/{run_id}/resume")
    assert second[-2].event == "complete" and state["attempt"] == 2
    assert second[-2].data["result"]["chunks_from_earlier_attempts"] == 2
    assert await business_count(settings, Asset) == 23
    assert await business_count(settings, ImportChunk) == 5
    ids = [f.seq for f in first + second if f.event != "end"]
    assert ids == sorted(set(ids)) and second[0].seq == last_seen + 1, "ids keep growing"
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_resumable"


async def test_demo_runs_are_not_resumable(server) -> None:  # type: ignore[no-untyped-def]
    async with server.client() as client:
        response = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"fail_at": 1, "items": 2, "delay_ms": 0}}
        )
        run_id = response.json()["id"]
        await collect(client, f"/api/runs/{run_id}/events")
        state = await run_status(client, run_id)
        resumed = await client.post(f"/api/runs/{run_id}/resume")
    assert state["status"] == "failed" and state["resumable"] is False
    assert resumed.status_code == 409 and resumed.json()["error"]["code"] == "not_resumable"


async def test_oversized_or_headerless_uploads_write_nothing(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(max_import_bytes=2048)
    async with run_server(settings) as srv, srv.client() as client:
        too_big = await client.post("/api/assets/import", content=csv_text(good_rows(60)).encode())
        no_header = await client.post("/api/assets/import", content=b"x,y\n1,2\n")
        not_utf8 = await client.post(
            "/api/assets/import", content=HEADER.encode() + b"\n\xff\xfe\n"
        )
        bad_chunk = await client.post(
            "/api/assets/import?chunk_size=0", content=csv_text([]).encode()
        )
        runs = (await client.get("/api/runs")).json()["data"]
    assert too_big.status_code == 413
    assert no_header.status_code == 422 and "code" in no_header.json()["error"]["message"]
    assert not_utf8.status_code == 400
    assert bad_chunk.status_code == 422
    assert runs == [] and await business_count(settings, AssetUpload) == 0
