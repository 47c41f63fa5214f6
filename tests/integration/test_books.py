"""Postings an auditor accepts: months in order, numbers per month, reversal, dry run, locks.

Each test builds its own small register with dates chosen so the expected
months can be worked out by hand (the comments say how).
"""

from __future__ import annotations

import asyncio
import csv
import functools
import io
import json
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from progress_sse.accounting.depreciation import periods
from progress_sse.accounting.depreciation.documents import next_number, posted_document
from progress_sse.accounting.depreciation.models import Asset
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.accounting.depreciation.register import hold_register
from progress_sse.jobs.execution import WAITING
from progress_sse.runs.events import utc_now
from progress_sse.runs.models import Run
from progress_sse.settings import Settings
from progress_sse.storage import db
from tests.support import (
    Server,
    collect,
    in_finalize,
    run_server,
    run_status,
    start_run,
    wait_for,
)


async def add_assets(settings: Settings, *rows: dict[str, Any], tenant: str = "acme") -> None:
    """Straight-line assets (cost 1,200.00, no salvage) unless a row says otherwise."""
    now = utc_now()
    base = {
        "tenant_id": tenant, "name": "asset", "category": "", "cost": Decimal("1200.00"),
        "salvage": Decimal("0.00"), "life_months": 12, "method": "straight_line",
        "annual_rate": None, "tax_group": None, "disposed_on": None,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(Asset), [base | row for row in rows])
    finally:
        await engine.dispose()


async def post(client: httpx.AsyncClient, year: int, month: int, **params: Any) -> httpx.Response:
    return await client.post(
        "/api/runs",
        json={"kind": "asset_depreciation", "params": {"year": year, "month": month, **params}},
    )


async def posted(client: httpx.AsyncClient, year: int, month: int, **params: Any) -> dict[str, Any]:
    """Post a month and wait for it: the run's result."""
    response = await post(client, year, month, **params)
    assert response.status_code == 202, response.text
    frames = await collect(client, response.json()["events_url"])
    assert frames[-2].event == "complete", frames[-2].data
    result = frames[-2].data["result"]
    assert isinstance(result, dict)
    return result


# -- months in order ----------------------------------------------------------------------


async def test_a_month_waits_for_every_earlier_month_that_needed_a_posting(
    server: Server, settings: Settings
) -> None:
    # A depreciates from January 2026, B from March: January, then February, must come first.
    await add_assets(
        settings,
        {"code": "A", "acquired_on": date(2026, 1, 15)},
        {"code": "B", "acquired_on": date(2026, 3, 1)},
    )
    async with server.client() as client:
        march_first = await post(client, 2026, 3)
        await posted(client, 2026, 1)
        march_second = await post(client, 2026, 3)
        await posted(client, 2026, 2)
        march = await posted(client, 2026, 3)
    for refused, first in ((march_first, "2026-01"), (march_second, "2026-02")):
        assert refused.status_code == 409
        error = refused.json()["error"]
        assert (error["code"], error["period"]) == ("earlier_period_unposted", first)
        assert first in error["message"] and "allow_earlier_unposted" in error["message"]
    assert march["document_no"] == "DEP/2026/03/0001" and march["earlier_unposted"] is None


async def test_months_in_which_nothing_depreciates_need_no_posting(
    server: Server, settings: Settings
) -> None:
    # C depreciates only in January 2024 (a one-month life); D from January 2026.
    # Nothing depreciates from February 2024 to December 2025, so none of those is asked for.
    await add_assets(
        settings,
        {"code": "C", "acquired_on": date(2024, 1, 10), "life_months": 1},
        {"code": "D", "acquired_on": date(2026, 1, 10)},
        # fully depreciated by the schedule's own rule (cost = salvage): never needs a posting
        {"code": "E", "acquired_on": date(2022, 6, 1), "salvage": Decimal("1200.00")},
    )
    async with server.client() as client:
        refused = await post(client, 2026, 1)
        await posted(client, 2024, 1)
        january = await posted(client, 2026, 1)
    assert refused.json()["error"]["period"] == "2024-01"
    assert january["document_no"] == "DEP/2026/01/0001"


async def test_allowing_a_gap_is_deliberate_and_recorded_in_the_journal(
    server: Server, settings: Settings
) -> None:
    # F depreciated through 2020 and was never posted here: the books open in January 2026.
    await add_assets(
        settings,
        {"code": "F", "acquired_on": date(2020, 1, 1)},
        {"code": "G", "acquired_on": date(2025, 7, 1), "life_months": 24},
    )
    async with server.client() as client:
        refused = await post(client, 2026, 1)
        opened = await posted(client, 2026, 1, allow_earlier_unposted=True)
        february = await posted(client, 2026, 2)  # in order from the opening on
        documents = (await client.get("/api/depreciation/2026/1/documents")).json()["data"]
    assert refused.json()["error"]["period"] == "2020-01"
    assert opened["earlier_unposted"] == "2020-01"
    assert february["earlier_unposted"] is None
    [opening] = documents
    assert opening["earlier_unposted"] == "2020-01"
    assert opening["params"]["allow_earlier_unposted"] is True


# -- numbers and reversal ------------------------------------------------------------------


async def test_numbers_count_per_month_and_a_rerun_reverses(
    server: Server, settings: Settings
) -> None:
    await add_assets(
        settings,
        {"code": "H", "acquired_on": date(2026, 1, 1)},
        {"code": "I", "acquired_on": date(2026, 1, 1), "cost": Decimal("1000.00")},
    )
    async with server.client() as client:
        jan = await posted(client, 2026, 1)
        feb = await posted(client, 2026, 2)
        rerun = await posted(client, 2026, 1)
        journal = (await client.get("/api/depreciation/2026/1")).json()
        lines = list(csv.DictReader(io.StringIO(
            (await client.get("/api/depreciation/2026/1?format=csv")).text
        )))  # fmt: skip
    assert (jan["document_no"], feb["document_no"]) == ("DEP/2026/01/0001", "DEP/2026/02/0001")
    assert (rerun["reverses"], rerun["reversal_no"], rerun["document_no"]) == (
        "DEP/2026/01/0001", "DEP/2026/01/0002", "DEP/2026/01/0003",
    )  # fmt: skip
    # H: 1,200.00 / 12 = 100.00 a month; I: 1,000.00 / 12 = 83.33 (83.37 in the last month)
    by_doc = {(r["document_no"], r["asset_code"]): r for r in lines if r["document_no"] != "TOTAL"}
    assert by_doc[("DEP/2026/01/0001", "H")]["amount"] == "100.00"
    assert by_doc[("DEP/2026/01/0001", "I")]["amount"] == "83.33"
    reversal = by_doc[("DEP/2026/01/0002", "I")]
    assert (reversal["amount"], reversal["accumulated"], reversal["book_value"]) == (
        "-83.33", "0.00", "1000.00",
    ), "a reversal line takes the asset back to before the month"  # fmt: skip
    assert reversal["reverses"] == "DEP/2026/01/0001" and reversal["document_type"] == "reversal"
    assert lines[-1]["document_no"] == "TOTAL" and lines[-1]["amount"] == "183.33"
    assert journal["document_no"] == "DEP/2026/01/0003"
    statuses = [(d["document_no"][-4:], d["type"], d["status"]) for d in journal["documents"]]
    assert statuses == [
        ("0001", "depreciation", "reversed"), ("0002", "reversal", "posted"),
        ("0003", "depreciation", "posted"),
    ]  # fmt: skip


async def test_the_documents_show_who_when_which_run_and_which_parameters(
    server: Server, settings: Settings
) -> None:
    await add_assets(settings, {"code": "J", "acquired_on": date(2026, 1, 1)})
    async with server.client() as client:
        response = await post(client, 2026, 1)
        run_id = response.json()["id"]
        await collect(client, response.json()["events_url"])
        run = await run_status(client, run_id)
        as_json = (await client.get("/api/depreciation/2026/1/documents")).json()["data"]
        as_csv = await client.get("/api/depreciation/2026/1/documents?format=csv")
    [doc] = as_json
    assert doc["run_id"] == run_id and doc["started_by"] == run["created_by"] is not None
    assert doc["posted_at"].startswith(run["started_at"][:10])
    assert doc["params"] == {"year": 2026, "month": 1, "dry_run": False,
                             "allow_earlier_unposted": False}  # fmt: skip
    assert (doc["entries"], doc["total_amount"], doc["status"]) == (1, "100.00", "posted")
    [row] = csv.DictReader(io.StringIO(as_csv.text))
    assert row["document_no"] == "DEP/2026/01/0001" and row["run_id"] == run_id
    assert json.loads(row["params"])["month"] == 1
    assert "attachment" in as_csv.headers["content-disposition"]


# -- locking a month that is being posted ---------------------------------------------------


async def test_locking_a_month_with_an_active_posting_run_is_409_naming_it(
    make_settings: Any, settings: Settings
) -> None:
    await add_assets(settings, {"code": "L", "acquired_on": date(2026, 1, 1)})
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        response = await post(client, 2026, 1)
        run_id = response.json()["id"]
        refused = await client.post("/api/periods/2026/1/lock")
        other_month = await client.post("/api/periods/2026/2/lock")
        periods = (await client.get("/api/periods")).json()["data"]
        await client.post(f"/api/runs/{run_id}/cancel")
        after_cancel = await client.post("/api/periods/2026/1/lock")
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert (error["code"], error["run_id"]) == ("run_active", run_id)
    assert run_id in error["message"]
    assert other_month.status_code == 200
    assert [p["period"] for p in periods] == ["2026-02"], "the refused lock was not applied"
    assert after_cancel.status_code == 200


# -- dry run --------------------------------------------------------------------------------


async def test_a_dry_run_reports_everything_and_posts_nothing(
    server: Server, settings: Settings
) -> None:
    await add_assets(
        settings,
        {"code": "M", "acquired_on": date(2026, 1, 1), "tax_group": "1",
         "life_months": 48, "annual_rate": Decimal("0.25")},
        {"code": "N", "acquired_on": date(2026, 1, 1), "cost": Decimal("2400.00"),
         "method": "declining_balance", "annual_rate": Decimal("0.5"), "life_months": 48},
        {"code": "O", "acquired_on": date(2027, 1, 1)},  # not acquired yet
        {"code": "P", "acquired_on": date(2025, 1, 1), "disposed_on": date(2025, 6, 30)},
    )  # fmt: skip
    async with server.client() as client:
        preview = await posted(client, 2026, 1, dry_run=True)
        latest = (await client.get("/api/runs?limit=1")).json()["data"][0]
        preview_run = await run_status(client, latest["id"])
        journal = (await client.get("/api/depreciation/2026/1")).json()
        real = await posted(client, 2026, 1, allow_earlier_unposted=True)
    # M: 1,200.00 over 48 months = 25.00; N: 2,400.00 x 0.5 / 12 = 100.00
    assert preview["dry_run"] is True and preview["document_no"] is None
    assert (preview["entries"], preview["total_amount"]) == (2, "125.00")
    assert preview["totals_by_tax_group"] == {
        "1": {"entries": 1, "amount": "25.00"}, "none": {"entries": 1, "amount": "100.00"},
    }  # fmt: skip
    assert preview["totals_by_method"] == {
        "declining_balance": {"entries": 1, "amount": "100.00"},
        "straight_line": {"entries": 1, "amount": "25.00"},
    }
    assert preview["skipped"] == {"disposed": 1, "not_acquired": 1}
    assert preview["skipped_assets"] == {"disposed": ["P"], "not_acquired": ["O"]}
    assert any("2025-01" in w for w in preview["warnings"]), "posting would need the flag"
    assert [s["name"] for s in preview_run["steps"]] == [
        "init", "prepare", "load", "process", "finalize",
    ]  # fmt: skip
    assert journal["documents"] == [] and journal["data"] == []
    assert real["document_no"] == "DEP/2026/01/0001", "the dry run took no number"
    assert {k: real[k] for k in ("entries", "total_amount", "totals_by_tax_group")} == {
        k: preview[k] for k in ("entries", "total_amount", "totals_by_tax_group")
    }


async def test_a_dry_run_of_a_locked_month_previews_and_warns(
    server: Server, settings: Settings
) -> None:
    await add_assets(settings, {"code": "Q", "acquired_on": date(2026, 1, 1)})
    async with server.client() as client:
        await client.post("/api/periods/2026/1/lock")
        preview = await posted(client, 2026, 1, dry_run=True)
        refused = await post(client, 2026, 1)
        periods = (await client.get("/api/periods")).json()["data"]
    assert preview["entries"] == 1
    assert any("locked" in w for w in preview["warnings"])
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "period_locked"
    assert [p["period"] for p in periods] == ["2026-01"], "the dry run locked nothing"


async def test_a_dry_run_may_run_beside_a_posting_of_the_same_month(
    make_settings: Any, settings: Settings
) -> None:
    await add_assets(settings, {"code": "R", "acquired_on": date(2026, 1, 1)})
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        real = await post(client, 2026, 1)
        preview = await post(client, 2026, 1, dry_run=True)
    assert real.status_code == 202 and preview.status_code == 202, preview.text


async def test_a_dry_run_completes_while_a_posting_of_the_month_holds_its_locks(
    server: Server, settings: Settings
) -> None:
    """A rerun in flight holds the register, the month's document and counter (and SQLite's
    write lock): a preview of the same month reads past all of them."""
    await add_assets(settings, {"code": "R", "acquired_on": date(2026, 1, 1)})
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with server.client() as client:
            await posted(client, 2026, 1)
            async with db.sessionmaker(engine).begin() as posting:
                await hold_register(posting, "acme")
                await posted_document(posting, "acme", Period(2026, 1), lock=True)
                await next_number(posting, "acme", Period(2026, 1))
                preview = await asyncio.wait_for(posted(client, 2026, 1, dry_run=True), 20)
    finally:
        await engine.dispose()
    assert preview["reverses"] == "DEP/2026/01/0001" and preview["entries"] == 1


# -- two runs at once ---------------------------------------------------------------------

IMPORT_CSV = (
    "code,name,acquired_on,cost,method,life_months\nT,Truck,2026-01-05,1200.00,straight_line,12\n"
)


async def test_runs_that_write_at_once_all_complete_the_later_ones_waiting_their_turn(
    make_settings: Any, backend: str
) -> None:
    """Another tenant's long run holds the writer: a posting and an import wait, then finish."""
    settings = make_settings()
    await add_assets(settings, {"code": "S", "acquired_on": date(2026, 1, 1)})
    async with run_server(settings) as srv, srv.client() as acme, srv.client("globex") as globex:
        holder = await start_run(globex, items=2, delay_ms=0, hold_ms=1500)
        await wait_for(functools.partial(in_finalize, globex, holder))
        posting = await post(acme, 2026, 1)
        upload = await acme.post("/api/assets/import", content=IMPORT_CSV)
        frames = {
            name: await collect(
                client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"}
            )
            for name, client, run_id in (
                ("posting", acme, posting.json()["id"]),
                ("import", acme, upload.json()["id"]),
                ("holder", globex, holder),
            )
        }
    for name, seen in frames.items():
        assert seen[-2].event == "complete", (name, seen[-2].data)
    if backend == "sqlite":  # one writer per database: the wait is shown, then it ends
        messages = [f.data.get("message") for f in frames["posting"]]
        assert WAITING in messages
        assert messages.index(WAITING) < next(
            i
            for i, f in enumerate(frames["posting"])
            if (f.data.get("step") or {}).get("name") == "init"
        ), "it waits before its first step"


async def test_a_write_that_cannot_wait_answers_503_busy_never_500(
    make_settings: Any, backend: str
) -> None:
    if backend != "sqlite":
        pytest.skip("only SQLite has a single writer that an HTTP request can wait for")
    settings = make_settings(sqlite_busy_timeout_ms=200)
    async with run_server(settings) as srv, srv.client() as acme, srv.client("globex") as globex:
        holder = await start_run(globex, items=2, delay_ms=0, hold_ms=2000)
        await wait_for(functools.partial(in_finalize, globex, holder))
        busy = await acme.post("/api/periods/2026/1/lock")
        await collect(globex, f"/api/runs/{holder}/events")
        later = await acme.post("/api/periods/2026/1/lock")
    assert busy.status_code == 503, busy.text
    assert busy.json()["error"]["code"] == "database_busy" and busy.headers["retry-after"]
    assert later.status_code == 200


# -- what a posting holds until it commits (PostgreSQL; SQLite's one writer holds it all) --------


async def _blocked_until_commit(settings: Settings, first: Any, second: Any) -> bool:
    """Whether `second` (in its own transaction) waits for `first`'s transaction to commit."""
    engine = db.create_engine(settings.business_url, settings)
    sessions = db.sessionmaker(engine)
    try:
        async with sessions.begin() as holder:
            await first(holder)
            waiting = asyncio.create_task(second(sessions))
            await asyncio.sleep(0.5)
            blocked = not waiting.done()
        await asyncio.wait_for(waiting, 10)  # and it goes on once the holder committed
    finally:
        await engine.dispose()
    return blocked


async def test_an_import_chunk_waits_while_a_posting_holds_the_register(
    settings: Settings, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("on SQLite the posting's write lock already keeps every import out")

    async def chunk(sessions: Any) -> None:
        async with sessions.begin() as session:
            await hold_register(session, "acme")

    async def posting(session: Any) -> None:
        await hold_register(session, "acme")

    assert await _blocked_until_commit(settings, posting, chunk)


async def test_locking_a_month_waits_for_a_posting_that_took_its_number(
    settings: Settings, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("on SQLite the posting's write lock already keeps the lock out")

    async def posting(session: Any) -> None:
        await next_number(session, "acme", Period(2026, 1))

    async def lock(sessions: Any) -> None:
        await periods.lock(sessions, "acme", Period(2026, 1), by="test")

    assert await _blocked_until_commit(settings, posting, lock)


async def test_a_resumed_run_whose_posting_had_committed_reports_it_and_posts_nothing_again(
    server: Server, settings: Settings
) -> None:
    """A crash between the business COMMIT and `completed` (SQLite keeps runs in another
    file) leaves a run that posted but looks failed. Resuming it, whatever happened since
    (the month locked, the register grown, the document reversed by a rerun), reports the
    document it posted, from its stored lines, and posts nothing."""
    await add_assets(settings, {"code": "U", "acquired_on": date(2026, 1, 1)})
    async with server.client() as client:
        response = await post(client, 2026, 1)
        run_id = response.json()["id"]
        first = (await collect(client, response.json()["events_url"]))[-2].data["result"]
        await add_assets(settings, {"code": "V", "acquired_on": date(2026, 1, 1)})
        await client.post("/api/periods/2026/1/lock")
        locked_since = await resume_as_if_crashed(server, client, run_id)
        await client.post("/api/periods/2026/1/unlock")
        await posted(client, 2026, 1)  # a rerun: 0002 reverses 0001, 0003 posts U and V
        reversed_since = await resume_as_if_crashed(server, client, run_id)
        journal = (await client.get("/api/depreciation/2026/1")).json()
    for again in (locked_since, reversed_since):
        assert again["document_no"] == first["document_no"] == "DEP/2026/01/0001"
        assert (again["entries"], again["total_amount"]) == (1, "100.00"), "its own lines"
        assert again["totals_by_tax_group"] == first["totals_by_tax_group"]
    assert [d["document_no"][-4:] for d in journal["documents"]] == ["0001", "0002", "0003"]


async def resume_as_if_crashed(server: Server, client: httpx.AsyncClient, run_id: str) -> Any:
    """Mark a completed run failed, as the stale sweeper leaves a crashed one; resume it."""
    async with server.services.sessions.begin() as session:
        await session.execute(
            sa.update(Run)
            .where(Run.id == run_id)
            .values(status="failed", error_code="stale", active_lock=None)
        )
    assert (await client.post(f"/api/runs/{run_id}/resume")).status_code == 202
    frames = await collect(client, f"/api/runs/{run_id}/events")
    assert frames[-2].event == "complete", frames[-2].data
    return frames[-2].data["result"]


async def test_a_month_too_large_for_a_document_is_refused_with_a_reason(
    server: Server, settings: Settings
) -> None:
    # Eleven assets at the import's largest cost, written off in one month: 1.1 x 10^16.
    huge = {"cost": Decimal("999999999999999.99"), "life_months": 1}
    await add_assets(
        settings, *({"code": f"O{i}", "acquired_on": date(2026, 1, 1), **huge} for i in range(11))
    )
    async with server.client() as client:
        preview = await posted(client, 2026, 1, dry_run=True)
        response = await post(client, 2026, 1)
        frames = await collect(client, response.json()["events_url"])
        journal = (await client.get("/api/depreciation/2026/1")).json()
    assert any("more than a document can hold" in w for w in preview["warnings"])
    error = frames[-2]
    assert error.event == "error" and error.data["error_code"] == "total_too_large"
    assert "10,999,999,999,999,999.89" in error.data["message"]
    assert journal["documents"] == [], "nothing posted, no number taken"
