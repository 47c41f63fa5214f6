"""Reading the asset register as pure schedule inputs, fast enough for 100,000 assets."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.accounting.depreciation.models import Asset
from progress_sse.accounting.depreciation.schedule import AssetTerms, Method, StoredTerms
from progress_sse.storage.bulk import fetch_driver_rows, fetch_tuples

# asset id, its terms, its tax group (None: a commercial asset outside the tax groups)
RegisterAsset = tuple[int, AssetTerms, str | None]
_METHODS = {m.value: m for m in Method}

# What a run reads of each asset, in plain integers the database computes (no Decimal, no
# date is built per asset): id, cost and salvage in cents, life in months, method, the
# annual rate in millionths (RATE_SCALE), the acquisition and disposal months as
# `schedule.month_index` counts them (disposal None: not disposed), tax group.
RegisterRow = tuple[int, int, int, int, str, int, int, int | None, str | None]
RATE_SCALE = 1_000_000  # annual_rate is NUMERIC(9, 6): a whole number of millionths

# The same columns on each database, converted there. PostgreSQL: NUMERIC(18, 2) x 100 and
# NUMERIC(9, 6) x 10^6 are whole numbers, so the casts are exact. SQLite: money and rates
# are stored in those units already (ExactDecimal), dates as YYYY-MM-DD text. A declining
# balance always has a rate (CHECK constraint), so COALESCE only fills straight lines'.
_REGISTER = {
    "postgresql": (
        "SELECT id, (cost * 100)::bigint, (salvage * 100)::bigint, life_months, method, "
        "COALESCE((annual_rate * 1000000)::bigint, 0), "
        "(extract(year FROM acquired_on) * 12 + extract(month FROM acquired_on))::int - 1, "
        "(extract(year FROM disposed_on) * 12 + extract(month FROM disposed_on))::int - 1, "
        "tax_group FROM assets WHERE tenant_id = $1 ORDER BY id"
    ),
    "sqlite": (
        "SELECT id, cost, salvage, life_months, method, COALESCE(annual_rate, 0), "
        "CAST(substr(acquired_on, 1, 4) AS INTEGER) * 12 "
        "+ CAST(substr(acquired_on, 6, 2) AS INTEGER) - 1, "
        "CAST(substr(disposed_on, 1, 4) AS INTEGER) * 12 "
        "+ CAST(substr(disposed_on, 6, 2) AS INTEGER) - 1, "
        "tax_group FROM assets WHERE tenant_id = ? ORDER BY id"
    ),
}


async def load_register(session: AsyncSession, tenant_id: str) -> Sequence[RegisterRow]:
    """The tenant's whole register by id, for a run: one query, the driver's own rows.

    Read in the session's transaction through the driver (`fetch_driver_rows`):
    a row is unpacked as it comes, with no per-row conversion in Python.
    """
    sql = _REGISTER[session.get_bind().dialect.name]
    return await fetch_driver_rows(session, sql, tenant_id)


async def load_assets(
    session: AsyncSession,
    tenant_id: str,
    where: sa.ColumnElement[bool] | None = None,
    *,
    after: int = 0,
    limit: int | None = None,
) -> list[RegisterAsset]:
    """The tenant's assets by id (those matching `where`, ids above `after`, up to `limit`).

    One set-based query returning the driver's own tuples, converted once
    here: SQLAlchemy's typed rows would cost more than the query itself.
    """
    a = Asset.__table__.c
    stmt = (
        sa.select(
            a.id, a.cost, a.salvage, a.life_months, a.method, a.annual_rate, a.acquired_on,
            a.disposed_on, a.tax_group,
        )
        .where(a.tenant_id == tenant_id, a.id > after)
        .order_by(a.id)
        .limit(limit)
    )  # fmt: skip
    if where is not None:
        stmt = stmt.where(where)
    rows = await fetch_tuples(session, stmt)
    if session.get_bind().dialect.name == "sqlite":
        rows = [_from_sqlite(row) for row in rows]
    return [
        (i, StoredTerms(cost, salvage, life, _METHODS[method], rate, acquired, disposed), group)
        for i, cost, salvage, life, method, rate, acquired, disposed, group in rows
    ]


def _from_sqlite(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """SQLite's raw values: money in cents, rates in millionths, dates as text (ExactDecimal)."""
    i, cost, salvage, life, method, rate, acquired, disposed, group = row
    return (
        i, Decimal(cost).scaleb(-2), Decimal(salvage).scaleb(-2), life, method,
        None if rate is None else Decimal(rate).scaleb(-6), date.fromisoformat(acquired),
        None if disposed is None else date.fromisoformat(disposed), group,
    )  # fmt: skip


REGISTER_LOCK = 0x5245_4749  # advisory-lock namespace of the asset register ("REGI")


async def hold_register(session: AsyncSession, tenant_id: str) -> None:
    """Hold the tenant's register until this transaction ends (PostgreSQL).

    A posting run takes it before it reads the register, and each import
    chunk before it checks and writes rows, so an import can never change
    the terms of an asset while a posting computes entries from them. On
    SQLite the one write lock already does this (both hold it throughout).
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    key = register_key(tenant_id)
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(REGISTER_LOCK, key)))


def register_key(tenant_id: str) -> int:
    """The tenant's key in REGISTER_LOCK (int4; a collision only makes two tenants wait)."""
    return zlib.crc32(tenant_id.encode()) - 2**31
