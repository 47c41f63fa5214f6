"""Bulk reads and writes for hot paths: the driver's own rows, without per-row result processing.

Both go through public APIs only: `AsyncConnection.get_raw_connection()` and
its `driver_connection` (the asyncpg or aiosqlite connection under the
session's own, in the session's transaction), and those drivers' documented
methods.
"""

from __future__ import annotations

from collections.abc import Sequence
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


async def driver_connection(session: AsyncSession) -> Any:
    """The driver's connection under the session's, inside the session's transaction.

    asyncpg under SQLAlchemy begins its transaction with the first statement
    sent through SQLAlchemy; one is sent first if none was, so that what the
    caller sends through the driver is never autocommitted. (On SQLite the
    session's BEGIN is already on the one connection.)
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection
    if connection.dialect.name == "postgresql" and not driver.is_in_transaction():
        await connection.exec_driver_sql("SELECT 1")
    return driver


async def fetch_driver_rows(session: AsyncSession, sql: str, *params: Any) -> Sequence[Any]:
    """Rows of `sql` exactly as the driver returns them: asyncpg `Record`s, sqlite3 tuples.

    `sql` is in the driver's own parameter style ($1 for asyncpg, ? for
    sqlite3). A row unpacks like a tuple on both; nothing is converted.
    """
    driver = await driver_connection(session)
    if session.get_bind().dialect.name == "postgresql":
        return await driver.fetch(sql, *params)  # type: ignore[no-any-return]
    return list(await driver.execute_fetchall(sql, params))
