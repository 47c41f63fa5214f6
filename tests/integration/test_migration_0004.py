"""Upgrading books written by 0003: every amount exact, every posting a document, numbers go on.

The rows are written as 0003 stored them: REAL money on SQLite, a tax-group
rate rounded to two places (as PostgreSQL's bind cast did), and document
numbers from the old per-tenant counter.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from progress_sse.settings import Settings, normalize_url
from progress_sse.storage import db
from tests.conftest import PG_URL, _admin

ASSETS = [
    # id, code, cost, salvage, life, method, rate, tax group
    (1, "A-1", "1234567890123.45", "0", 96, "straight_line", "0.13", "2"),
    (2, "A-2", "1000.10", "100.01", 60, "declining_balance", "0.4", None),
]
ENTRIES = [
    # asset, year, month, amount, accumulated, book value, document number
    (1, 2026, 4, "12860082188.79", "12860082188.79", "1221707807934.66", "DEP/2026/04/0005"),
    (2, 2026, 4, "30.00", "30.00", "970.10", "DEP/2026/04/0005"),
    (1, 2026, 5, "12860082188.79", "25720164377.58", "1208847725745.87", "DEP/2026/05/0007"),
]


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = db.alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def _migrate(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, revision)


@pytest.fixture
async def old_books(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A business database at 0003 holding books the way 0003 wrote them."""
    name = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    else:
        assert PG_URL is not None
        base = make_url(normalize_url(PG_URL))
        name = f"progress_sse_m4_{os.getpid()}_{secrets.token_hex(3)}"
        await _admin(base, f'CREATE DATABASE "{name}"')
        url = base.set(database=name).render_as_string(hide_password=False)
    engine = db.create_engine(url, Settings(database_url=url))
    try:
        await _migrate(engine, "0003")
        async with engine.begin() as conn:
            await _write_old_rows(conn)
        yield engine
    finally:
        await engine.dispose()
        if name is not None:
            await _admin(
                make_url(normalize_url(PG_URL or "")), f'DROP DATABASE "{name}" WITH (FORCE)'
            )


async def _write_old_rows(conn: AsyncConnection) -> None:
    sqlite = conn.dialect.name == "sqlite"

    def money(text: str) -> object:
        return float(text) if sqlite else Decimal(text)  # 0003 bound floats on SQLite

    for i, code, cost, salvage, life, method, rate, group in ASSETS:
        await conn.execute(
            sa.text(
                "INSERT INTO assets (id, tenant_id, code, name, category, acquired_on, cost, "
                "salvage, life_months, method, annual_rate, tax_group, created_at, updated_at) "
                "VALUES (:i, 'acme', :code, 'x', '', '2026-01-01', :cost, :salvage, :life, "
                ":method, :rate, :grp, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"i": i, "code": code, "cost": money(cost), "salvage": money(salvage), "life": life,
             "method": method, "rate": money(rate), "grp": group},
        )  # fmt: skip
    for asset, year, month, amount, accumulated, book, number in ENTRIES:
        await conn.execute(
            sa.text(
                "INSERT INTO depreciation_entries (tenant_id, asset_id, year, month, amount, "
                "accumulated, book_value, document_no, run_id, created_at) VALUES ('acme', "
                ":a, :y, :m, :amount, :acc, :book, :no, 'run-old', '2026-06-01 00:00:00')"
            ),
            {"a": asset, "y": year, "m": month, "amount": money(amount), "acc": money(accumulated),
             "book": money(book), "no": number},
        )  # fmt: skip
    await conn.execute(sa.text("INSERT INTO document_sequences VALUES ('acme', 'DEP', 7)"))


async def test_0004_keeps_every_amount_and_makes_each_posting_a_document(
    old_books: AsyncEngine,
) -> None:
    await _migrate(old_books, "head")
    from progress_sse.accounting.depreciation.documents import next_number
    from progress_sse.accounting.depreciation.models import (
        Asset,
        DepreciationDocument,
        DepreciationEntry,
    )
    from progress_sse.accounting.depreciation.periods import Period

    sessions = db.sessionmaker(old_books)
    async with sessions.begin() as session:
        assets = {a.code: a for a in (await session.execute(sa.select(Asset))).scalars()}
        entries = (await session.execute(sa.select(DepreciationEntry))).scalars().all()
        docs = (
            (await session.execute(sa.select(DepreciationDocument).order_by("document_no")))
            .scalars()
            .all()
        )
        may = await next_number(session, "acme", Period(2026, 5))
        june = await next_number(session, "acme", Period(2026, 6))
    assert assets["A-1"].cost == Decimal("1234567890123.45")
    assert assets["A-1"].annual_rate == Decimal("0.125000"), "the group's rate, restored"
    assert (assets["A-2"].cost, assets["A-2"].salvage) == (Decimal("1000.10"), Decimal("100.01"))
    assert assets["A-2"].annual_rate == Decimal("0.400000"), "an explicit rate is kept"
    assert sorted((e.document_no, e.amount, e.book_value) for e in entries) == sorted(
        (no, Decimal(amount), Decimal(book)) for _, _, _, amount, _, book, no in ENTRIES
    )
    assert [(d.document_no, d.status, d.entry_count, d.total_amount) for d in docs] == [
        ("DEP/2026/04/0005", "posted", 2, Decimal("12860082218.79")),
        ("DEP/2026/05/0007", "posted", 1, Decimal("12860082188.79")),
    ]
    # Months were not kept in order before: the tenant's first document opens its books.
    assert [d.earlier_unposted for d in docs] == ["migrated", None]
    assert {e.document_id for e in entries} == {d.id for d in docs}
    assert (may, june) == ("DEP/2026/05/0008", "DEP/2026/06/0001"), "numbers never repeat"
    if old_books.dialect.name == "sqlite":
        async with old_books.connect() as conn:
            kinds = await conn.execute(
                sa.text("SELECT DISTINCT typeof(cost), typeof(annual_rate) FROM assets")
            )
            assert set(kinds) == {("integer", "integer")}, "no money is REAL any more"
