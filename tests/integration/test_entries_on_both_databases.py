"""Entries posted by the bulk path are exact, and stored alike, on SQLite and PostgreSQL.

A register of a few hundred assets with awkward terms (single cents, costs
of 15 digits before the point (the import's limit), rates of six places, lives of 1 to 61 months,
salvage up to the whole cost, disposals) is imported, then months are posted
in batches of 7 entries, so that a document is made of many batches, each
sent while the next is computed. Every stored line must equal the independent
reading of the rules in `tests/reference_books.py` to the cent; SQLite must
store every amount as an INTEGER of cents (never a REAL or text), PostgreSQL
as NUMERIC with two places; and each month's journal must be byte-identical
on both databases.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from progress_sse.accounting.depreciation import posting
from progress_sse.settings import Settings
from tests.conftest import PG_URL, _fast, _truncate
from tests.reference_books import GROUPS, Terms, line_for
from tests.support import collect, run_server

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="set PROGRESS_SSE_TEST_DATABASE_URL (CI does) to compare with PostgreSQL"
)
YEAR = 2026
MONTHS = (1, 2, 7)  # the opening month, the next, and one after a gap (allowed)
HEADER = (
    "code,name,category,acquired_on,cost,salvage,life_months,method,annual_rate,tax_group,"
    "disposed_on"
)
TOP = Decimal("999999999999999.99")  # the largest cost an import takes (below 10^15)


BIG = 4  # the first assets: the largest costs, depreciating in every month posted


def awkward_cost(rng: random.Random, i: int) -> Decimal:
    if i < BIG:  # beyond a double's 2^53 in cents: a float anywhere would lose a cent
        return TOP - i if i < BIG - 1 else Decimal(2**53 + 1) / 100
    return Decimal(
        rng.choice([
            1, 3, 99, 101, rng.randrange(1, 10**4), rng.randrange(10**7, 10**9),
            rng.randrange(10**12, 10**14), 10**12 - 1, 2**31 + 1, 2**53 + 1,
        ])
    ) / 100  # fmt: skip


def register(count: int = 300, seed: int = 20) -> tuple[str, dict[str, Terms]]:
    """A CSV register and, for each code, the terms the reference works from."""
    rng = random.Random(seed)
    lines, terms = [HEADER], {}
    for i in range(count):
        code, cost = f"AW-{i:04d}", awkward_cost(rng, i)
        acquired = date(rng.choice([2021, 2024, 2025, 2026]), rng.randint(1, 12), 28)
        disposal = date(2026, rng.randint(1, 8), 28)
        disposed = disposal if i % 13 == 0 and disposal >= acquired and i >= BIG else None
        if i < BIG:
            acquired = date(2025, 12, 31)
        if i % 2 or i < BIG:  # a tax group: its life and rate, no salvage
            group = "4" if i < BIG else rng.choice(list(GROUPS))
            life, sl, db = GROUPS[group]
            declining = db is not None and i % 4 in (0, 1)
            method = "declining_balance" if declining else "straight_line"
            t = Terms(cost, Decimal("0.00"), life * 12, method, db if declining else sl,
                      acquired, disposed)  # fmt: skip
            cells = ["", "", method, "", group]
        else:  # commercial: an explicit life, salvage and (declining) a six-place rate
            method = "declining_balance" if i % 4 == 2 else "straight_line"
            salvage = rng.choice([Decimal(0), cost, (cost / 3).quantize(Decimal("0.01"))])
            life = rng.choice([1, 7, 13, 59, 61])
            rate = rng.choice(["0.000001", "0.333333", "0.999999", "1", "0.125"])
            t = Terms(cost, salvage, life, method,
                      Decimal(rate) if method == "declining_balance" else None, acquired,
                      disposed)  # fmt: skip
            cells = [str(salvage), str(life), method, rate if t.rate else "", ""]
        terms[code] = t
        lines.append(",".join([
            code, f"Asset {i}", "Awkward", acquired.isoformat(), str(cost), *cells,
            disposed.isoformat() if disposed else "",
        ]))  # fmt: skip
    return "\n".join(lines) + "\n", terms


@pytest.fixture
def both(sqlite_template: Path, pg_migrated: str | None, tmp_path: Path) -> dict[str, Settings]:
    import asyncio

    for name in ("store.db", "store_app.db"):
        shutil.copy(sqlite_template / name, tmp_path / name)
    assert pg_migrated is not None
    asyncio.run(_truncate(pg_migrated))
    return {
        "sqlite": Settings(database_url=f"sqlite:///{tmp_path}/store.db", **_fast()),  # type: ignore[arg-type]
        "postgresql": Settings(database_url=pg_migrated, **_fast()),  # type: ignore[arg-type]
    }


async def post_months(client: httpx.AsyncClient, text: str) -> dict[int, bytes]:
    imported = await client.post("/api/assets/import", content=text.encode())
    assert imported.status_code == 202, imported.text
    frames = await collect(client, imported.json()["events_url"])
    assert frames[-2].data["result"]["bad_row_count"] == 0, frames[-2].data["result"]
    for month in MONTHS:
        response = await client.post("/api/runs", json={
            "kind": "asset_depreciation",
            "params": {"year": YEAR, "month": month, "allow_earlier_unposted": True},
        })  # fmt: skip
        assert response.status_code == 202, response.text
        frames = await collect(client, response.json()["events_url"])
        assert frames[-2].event == "complete", frames[-2].data
    return {
        month: (await client.get(f"/api/depreciation/{YEAR}/{month}?format=csv")).content
        for month in MONTHS
    }


async def test_many_small_batches_post_exact_typed_entries_on_both_databases(
    both: dict[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(posting, "INSERT_BATCH", 7)
    text, terms = register()
    journals = {}
    for backend, settings in both.items():
        async with run_server(settings) as srv, srv.client() as client:
            journals[backend] = await post_months(client, text)
    for month in MONTHS:
        assert journals["sqlite"][month] == journals["postgresql"][month], f"{YEAR}-{month:02d}"
        check_against_reference(month, journals["sqlite"][month].decode(), terms)
    assert sqlite_storage(both["sqlite"]) == {
        ("integer", "integer", "integer", "integer", "integer", "integer", "integer", "text")
    }
    assert await postgres_scales(both["postgresql"]) == {(2, 2, 2)}


def check_against_reference(month: int, body: str, terms: dict[str, Terms]) -> None:
    rows = list(csv.DictReader(io.StringIO(body)))
    total = rows.pop()
    expected = {code: line_for(t, YEAR, month) for code, t in terms.items()}
    lines = {code: line for code, line in expected.items() if line is not None}
    assert len(lines) > 100, "most of the register depreciates in the month"
    assert all(f"AW-{i:04d}" in lines for i in range(BIG)), "the largest amounts are posted"
    got = {
        r["asset_code"]: (Decimal(r["amount"]), Decimal(r["accumulated"]), Decimal(r["book_value"]))
        for r in rows
    }
    assert got == {c: (e.amount, e.accumulated, e.book_value) for c, e in lines.items()}
    assert Decimal(total["amount"]) == sum((e.amount for e in lines.values()), Decimal(0))


def sqlite_storage(settings: Settings) -> set[tuple[Any, ...]]:
    """The storage classes SQLite holds the entries' columns in."""
    path = sa.make_url(settings.business_url).database
    assert path is not None
    connection = sqlite3.connect(path)
    try:
        return set(
            connection.execute(
                "SELECT DISTINCT typeof(amount), typeof(accumulated), typeof(book_value), "
                "typeof(asset_id), typeof(year), typeof(month), typeof(document_id), "
                "typeof(created_at) FROM depreciation_entries"
            ).fetchall()
        )
    finally:
        connection.close()


async def postgres_scales(settings: Settings) -> set[tuple[Any, ...]]:
    url = sa.make_url(settings.business_url).set(drivername="postgresql")
    connection = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        rows = await connection.fetch(
            "SELECT DISTINCT scale(amount), scale(accumulated), scale(book_value) "
            "FROM depreciation_entries"
        )
        return {tuple(row) for row in rows}
    finally:
        await connection.close()
