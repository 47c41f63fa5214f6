"""The month-end depreciation run: posts every asset once, reverses on rerun, never corrupts.

The demo register goes back years, so each test opens its books at the month
it posts (`allow_earlier_unposted`); months in order are tested in test_books.py.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from progress_sse.accounting.depreciation.job import ASSET_DEPRECIATION
from progress_sse.accounting.depreciation.models import (
    Asset,
    DepreciationDocument,
    DepreciationEntry,
)
from progress_sse.accounting.depreciation.schedule import (
    AssetTerms,
    Depreciation,
    Method,
    depreciate,
)
from progress_sse.accounting.seed import seed_assets
from progress_sse.jobs.context import JobContext
from progress_sse.runs.events import utc_now
from progress_sse.settings import Settings
from progress_sse.storage import db
from tests.support import (
    Server,
    collect,
    run_server,
    run_status,
    start_run,
    transitions,
    tripping,
    wait_for,
)

YEAR, MONTH = 2026, 6
ASSETS = 150


@pytest.fixture
async def register(settings: Settings) -> int:
    """The demo register for tenant acme (every method and tax group)."""
    return await seed_assets(settings, "acme", ASSETS)


async def depreciate_period(
    client: Any, year: int = YEAR, month: int = MONTH
) -> tuple[str, list[Any]]:
    run_id = await start_run(
        client, "asset_depreciation", year=year, month=month, allow_earlier_unposted=True
    )
    return run_id, await collect(
        client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"}
    )


async def stored_entries(settings: Settings) -> list[Any]:
    """The entries of the month's posted (not reversed) document, with their assets."""
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with db.sessionmaker(engine)() as session:
            rows = await session.execute(
                sa.select(DepreciationEntry, Asset)
                .join(Asset, Asset.id == DepreciationEntry.asset_id)
                .join(
                    DepreciationDocument, DepreciationDocument.id == DepreciationEntry.document_id
                )
                .where(
                    DepreciationEntry.year == YEAR,
                    DepreciationEntry.month == MONTH,
                    DepreciationDocument.status == "posted",
                    DepreciationDocument.kind == "depreciation",
                )
            )
            return [tuple(row) for row in rows]
    finally:
        await engine.dispose()


async def test_a_run_posts_every_asset_in_five_steps(server: Server, register: int) -> None:
    async with server.client() as client:
        run_id, frames = await depreciate_period(client)
        journal = (await client.get(f"/api/depreciation/{YEAR}/{MONTH}")).json()
        state = await run_status(client, run_id)
    seen = transitions(frames)
    done = [t[0] for t in seen if t[1:] == ("completed",)]
    # finalize commits; its completion is the `complete` event itself
    assert done == ["init", "prepare", "load", "process"]
    assert seen[-2:] == [("finalize", "in_progress"), ("complete",)]
    assert [s["status"] for s in state["steps"]] == ["completed"] * 5
    complete = frames[-2]
    assert complete.event == "complete"
    result = complete.data["result"]
    assert re.fullmatch(rf"DEP/{YEAR}/{MONTH:02d}/0001", result["document_no"])
    assert result["records_processed"] + sum(result["skipped"].values()) == register
    assert complete.data["records_processed"] == result["records_processed"]
    assert set(result["skipped"]) <= {"not_acquired", "disposed", "fully_depreciated"}
    assert len(result["skipped"]) >= 2, "the demo register has assets of several skip reasons"
    assert journal["totals"] == {
        "entries": result["records_processed"],
        "lines": result["records_processed"],
        "amount": result["total_amount"],
    }
    assert result["entries"] == result["records_processed"]
    assert sum(Decimal(e["amount"]) for e in journal["data"]) == Decimal(result["total_amount"])
    assert re.fullmatch(r"\d+\.\d\d", result["total_amount"]), "money always has two places"
    process = next(s for s in state["steps"] if s["name"] == "process")
    assert process["processed"] == register and process["skipped"] == sum(
        result["skipped"].values()
    )


async def test_posted_figures_are_the_pure_schedule(
    server: Server, register: int, settings: Settings
) -> None:
    async with server.client() as client:
        await depreciate_period(client)
    rows = await stored_entries(settings)
    assert rows
    for entry, asset in rows:
        terms = AssetTerms(
            cost=asset.cost, salvage=asset.salvage, life_months=asset.life_months,
            method=Method(asset.method), annual_rate=asset.annual_rate,
            acquired_on=asset.acquired_on, disposed_on=asset.disposed_on,
        )  # fmt: skip
        expected = depreciate(terms, YEAR, MONTH)
        assert isinstance(expected, Depreciation)
        assert (entry.amount, entry.accumulated, entry.book_value) == (
            expected.amount, expected.accumulated, expected.book_value,
        )  # fmt: skip
        assert isinstance(entry.amount, Decimal) and entry.amount.as_tuple().exponent == -2


async def test_a_rerun_reverses_the_posted_document_and_posts_a_new_one(
    server: Server, register: int, settings: Settings
) -> None:
    async with server.client() as client:
        first, one = await depreciate_period(client)
        second, two = await depreciate_period(client)
        journal = (await client.get(f"/api/depreciation/{YEAR}/{MONTH}")).json()
    rows = await stored_entries(settings)
    before, after = one[-2].data["result"], two[-2].data["result"]
    prefix = f"DEP/{YEAR}/{MONTH:02d}"
    assert before["document_no"] == f"{prefix}/0001"
    assert (after["reverses"], after["reversal_no"], after["document_no"]) == (
        f"{prefix}/0001", f"{prefix}/0002", f"{prefix}/0003",
    )  # fmt: skip
    assert {entry.run_id for entry, _ in rows} == {second}
    assert len({asset.id for _, asset in rows}) == len(rows), "one posted entry per asset and month"
    documents = {d["document_no"]: d for d in journal["documents"]}
    assert [(d["type"], d["status"]) for d in documents.values()] == [
        ("depreciation", "reversed"), ("reversal", "posted"), ("depreciation", "posted"),
    ]  # fmt: skip
    assert documents[f"{prefix}/0001"]["reversed_by"] == f"{prefix}/0002"
    assert documents[f"{prefix}/0002"]["reverses"] == f"{prefix}/0001"
    assert documents[f"{prefix}/0002"]["run_id"] == second == documents[f"{prefix}/0003"]["run_id"]
    assert documents[f"{prefix}/0001"]["run_id"] == first
    assert Decimal(documents[f"{prefix}/0002"]["total_amount"]) == -Decimal(before["total_amount"])
    assert journal["totals"]["amount"] == after["total_amount"], (
        "the reversal nets the original out"
    )
    assert journal["totals"]["lines"] == 3 * len(rows)


async def failing_at_60(ctx: JobContext, report: dict[str, Any]) -> None:
    if report.get("processed") == 60 and report["message"].startswith("Processing asset"):
        raise RuntimeError("injected failure at asset 60")


async def test_a_failure_in_process_leaves_the_earlier_entries_intact(make_settings) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings()
    await seed_assets(settings, "acme", ASSETS)
    async with run_server(settings) as srv, srv.client() as client:
        registry = srv.services.registry
        good, _ = await depreciate_period(client)
        before = sorted((e.asset_id, e.amount, e.run_id) for e, _ in await stored_entries(settings))
        # Same job, now failing at the 60th asset (after it has deleted and re-posted some).
        registry.replace(tripping(ASSET_DEPRECIATION, failing_at_60))
        _, frames = await depreciate_period(client)
        after = sorted((e.asset_id, e.amount, e.run_id) for e, _ in await stored_entries(settings))
        registry.replace(ASSET_DEPRECIATION)
        _, again = await depreciate_period(client)
    assert frames[-2].event == "error" and frames[-2].data["error_code"] == "internal_error"
    assert after == before and {r[2] for r in after} == {good}
    # The rolled-back run took no document number: the month's numbers have no gap.
    result = again[-2].data["result"]
    assert (result["reversal_no"], result["document_no"]) == (
        f"DEP/{YEAR}/{MONTH:02d}/0002", f"DEP/{YEAR}/{MONTH:02d}/0003",
    )  # fmt: skip


async def test_locked_period_is_409_and_unlocking_allows_the_run(
    server: Server, register: int
) -> None:
    async with server.client() as admin_client, server.client("acme-member") as member:
        forbidden = await member.post(f"/api/periods/{YEAR}/{MONTH}/lock")
        locked = await admin_client.post(f"/api/periods/{YEAR}/{MONTH}/lock")
        refused = await admin_client.post(
            "/api/runs",
            json={"kind": "asset_depreciation", "params": {"year": YEAR, "month": MONTH}},
        )
        listed = (await admin_client.get("/api/periods")).json()["data"]
        other_month = await admin_client.post(
            "/api/runs",
            json={
                "kind": "asset_depreciation",
                "params": {"year": YEAR, "month": 7, "allow_earlier_unposted": True},
            },
        )
        await wait_for(functools.partial(finished, admin_client, other_month.json()["id"]))
        await admin_client.post(f"/api/periods/{YEAR}/{MONTH}/unlock")
        _, frames = await depreciate_period(admin_client)
    assert forbidden.status_code == 403
    assert locked.status_code == 200 and locked.json()["locked"] is True
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "period_locked"
    assert [p["period"] for p in listed] == [f"{YEAR}-{MONTH:02d}"]
    assert other_month.status_code == 202
    assert frames[-2].event == "complete"


@pytest.mark.parametrize(
    ("params", "field"),
    [({"year": YEAR, "month": 13}, "params.month"), ({"year": 1999, "month": 1}, "params.year"),
     ({"year": 2101, "month": 0}, "params.year"), ({"month": 5}, "params.year")],
)  # fmt: skip
async def test_out_of_range_periods_are_422(
    server: Server, params: dict[str, int], field: str
) -> None:
    async with server.client() as client:
        response = await client.post(
            "/api/runs", json={"kind": "asset_depreciation", "params": params}
        )
        bad_path = await client.get("/api/depreciation/2026/13")
    assert response.status_code == 422
    assert field in [f["field"] for f in response.json()["error"]["fields"]]
    assert bad_path.status_code == 422


async def finished(client: Any, run_id: str) -> bool:
    return (await run_status(client, run_id))["status"] not in ("pending", "running")


async def test_second_run_for_the_same_period_is_409_while_active(make_settings) -> None:  # type: ignore[no-untyped-def]
    async with run_server(make_settings(run_jobs=False)) as srv, srv.client() as client:
        first = await start_run(
            client, "asset_depreciation", year=YEAR, month=MONTH, allow_earlier_unposted=True
        )
        second = await client.post(
            "/api/runs",
            json={"kind": "asset_depreciation", "params": {"year": YEAR, "month": MONTH}},
        )
    assert second.status_code == 409 and second.json()["error"]["run_id"] == first


async def test_the_journal_downloads_as_csv_with_a_total(server: Server, register: int) -> None:
    async with server.client() as client:
        _, frames = await depreciate_period(client)
        response = await client.get(f"/api/depreciation/{YEAR}/{MONTH}?format=csv")
    assert response.headers["content-type"].startswith("text/csv")
    assert f"depreciation-{YEAR}-{MONTH:02d}.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    total = rows.pop()
    result = frames[-2].data["result"]
    assert total["document_no"] == "TOTAL" and total["amount"] == result["total_amount"]
    assert {(r["document_no"], r["document_type"], r["document_status"]) for r in rows} == {
        (result["document_no"], "depreciation", "posted")
    }
    assert len(rows) == result["records_processed"]
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(result["total_amount"])


@pytest.mark.parametrize(
    "bad",
    [{"cost": Decimal("-1.00")}, {"salvage": Decimal("2000.00")}, {"life_months": 0},
     {"method": "sum_of_digits"}, {"method": "declining_balance", "annual_rate": None}],
)  # fmt: skip
async def test_the_register_refuses_rows_the_schedule_could_not_trust(
    settings: Settings, bad: dict[str, Any]
) -> None:
    """CHECK constraints hold what the schedule relies on when it reads rows back."""
    row = {
        "tenant_id": "acme", "code": "X-1", "name": "x", "category": "", "cost": Decimal("1000.00"),
        "salvage": Decimal("0.00"), "life_months": 12, "method": "straight_line",
        "annual_rate": None, "tax_group": None, "acquired_on": date(2024, 1, 1),
        "disposed_on": None, "created_at": utc_now(), "updated_at": utc_now(),
    }  # fmt: skip
    engine = db.create_engine(settings.business_url, settings)
    try:
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(sa.insert(Asset), [row | bad])
    finally:
        await engine.dispose()
