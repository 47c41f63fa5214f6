"""The same register, posted the same way, gives the same journal on SQLite and PostgreSQL.

A register in the Indonesian export format (`;`, decimal commas, amounts of
up to 17 significant digits, rates of 0,0625 and 0,125) is imported and a
year of months is posted on each database, one month corrected by a rerun.
Every month's journal CSV must be byte-identical across the two, and every
posted line must equal `tests/reference_books.py`, which reads the rules
again without the service's code.
"""

from __future__ import annotations

import csv
import io
import random
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from progress_sse.settings import Settings
from tests.conftest import PG_URL, _fast, _truncate
from tests.reference_books import GROUPS, Terms, line_for
from tests.support import collect, run_server

pytestmark = pytest.mark.skipif(
    not PG_URL, reason="set PROGRESS_SSE_TEST_DATABASE_URL (CI does) to compare with PostgreSQL"
)
YEAR = 2026
HEADER = (
    "code;name;category;acquired_on;cost;salvage;method;tax_group;annual_rate;life_months;"
    "disposed_on"
)


def indonesian(amount: Decimal) -> str:
    """1234567.5 -> '1.234.567,50', as an Indonesian spreadsheet exports it."""
    whole, cents = f"{amount:.2f}".split(".")
    groups = f"{int(whole):,}".replace(",", ".")
    return f"{groups},{cents}"


def register(count: int = 60, seed: int = 14) -> tuple[str, dict[str, Terms]]:
    """A CSV register and, for each code, the terms the reference works from."""
    rng = random.Random(seed)
    lines, terms = [HEADER], {}
    for i in range(count):
        code = f"AT-{i:03d}"
        cost = Decimal(rng.choice([
            rng.randrange(100, 10**6), rng.randrange(10**9, 10**13),
            rng.randrange(10**16, 10**17 - 1),  # 15 to 17 significant digits: beyond a REAL
        ])) / 100  # fmt: skip
        acquired = date(
            rng.choice([2023, 2024, 2025, 2026]), rng.randint(1, 12), rng.randint(1, 28)
        )
        disposed = date(2026, rng.randint(1, 12), 15) if i % 11 == 0 else None
        if i % 3:  # a tax group: life and rate from the group, no salvage (fiscal)
            group = rng.choice(["1", "2", "3", "4", "building_permanent"])
            life, sl, db = GROUPS[group]
            method = "declining_balance" if db is not None and i % 2 else "straight_line"
            rate = db if method == "declining_balance" else sl
            row = [group, "", ""]
            t = Terms(cost, Decimal("0.00"), life * 12, method, rate, acquired, disposed)
        else:  # commercial: explicit life, salvage, and a rate with three places
            method = "declining_balance" if i % 2 else "straight_line"
            salvage = (cost / 8).quantize(Decimal("0.01"))
            rate = Decimal("0.125") if method == "declining_balance" else None
            row = ["", "0,125" if rate else "", "60"]
            t = Terms(cost, salvage, 60, method, rate, acquired, disposed)
        terms[code] = t
        salvage_text = indonesian(t.salvage) if t.salvage else ""
        lines.append(";".join([
            code, f"Aset {i}", "Mesin", acquired.strftime("%d/%m/%Y"), indonesian(cost),
            salvage_text, method, *row, disposed.strftime("%d/%m/%Y") if disposed else "",
        ]))  # fmt: skip
    return "\r\n".join(lines) + "\r\n", terms


async def post_a_year(client: httpx.AsyncClient, text: str) -> dict[int, bytes]:
    """Import, open the books in January, post every month in order, correct March."""
    imported = await client.post("/api/assets/import", content=text.encode())
    assert imported.status_code == 202, imported.text
    frames = await collect(client, imported.json()["events_url"])
    assert frames[-2].data["result"]["bad_row_count"] == 0, frames[-2].data["result"]
    for month in range(1, 13):
        await post(client, month, allow_earlier_unposted=month == 1)
        if month == 5:
            await post(client, 3)  # a rerun: reversal 0002, new document 0003
    return {
        month: (await client.get(f"/api/depreciation/{YEAR}/{month}?format=csv")).content
        for month in range(1, 13)
    }


async def post(client: httpx.AsyncClient, month: int, **params: Any) -> None:
    response = await client.post(
        "/api/runs",
        json={"kind": "asset_depreciation", "params": {"year": YEAR, "month": month, **params}},
    )
    assert response.status_code == 202, response.text
    frames = await collect(client, response.json()["events_url"])
    assert frames[-2].event == "complete", frames[-2].data


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


async def test_a_year_of_months_gives_the_same_journal_on_both_databases(
    both: dict[str, Settings],
) -> None:
    text, terms = register()
    journals = {}
    for backend, settings in both.items():
        async with run_server(settings) as srv, srv.client() as client:
            journals[backend] = await post_a_year(client, text)
    for month in range(1, 13):
        assert journals["sqlite"][month] == journals["postgresql"][month], f"{YEAR}-{month:02d}"
    for month, body in journals["sqlite"].items():
        check_against_reference(month, body.decode(), terms)


def check_against_reference(month: int, body: str, terms: dict[str, Terms]) -> None:
    rows = list(csv.DictReader(io.StringIO(body)))
    total = rows.pop()
    posted = [r for r in rows if (r["document_type"], r["document_status"]) == (
        "depreciation", "posted")]  # fmt: skip
    expected = {code: line_for(t, YEAR, month) for code, t in terms.items()}
    expected = {code: line for code, line in expected.items() if line is not None}
    got = {
        r["asset_code"]: (Decimal(r["amount"]), Decimal(r["accumulated"]), Decimal(r["book_value"]))
        for r in posted
    }
    assert got == {c: (e.amount, e.accumulated, e.book_value) for c, e in expected.items()}
    assert Decimal(total["amount"]) == sum((e.amount for e in expected.values()), Decimal(0))
    numbers = sorted({r["document_no"] for r in rows})
    wanted = 3 if month == 3 else 1
    assert numbers == [f"DEP/{YEAR}/{month:02d}/{n:04d}" for n in range(1, wanted + 1)]
