"""Bulk reads for hot paths: the driver's own tuples, without per-row result processing."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession


async def fetch_tuples(session: AsyncSession, stmt: sa.Select[Any]) -> list[tuple[Any, ...]]:
    """Run `stmt` on the session's connection (and transaction); return raw tuples.

    The caller converts what the driver does not (SQLite returns dates as
    text and NUMERIC as REAL). SQLAlchemy's typed rows cost more than the
    query itself for the 100,000 assets of a depreciation run.
    """
    connection = await session.connection()
    compiled = stmt.compile(dialect=connection.dialect)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    result = await connection.exec_driver_sql(compiled.string, params)
    return [tuple(row) for row in result]
