"""Writing a batch of depreciation entries fast, inside the run's transaction.

The hot path of a 100,000-asset run. Amounts travel as whole cents and
every batch is ONE statement: the columns every row shares are sent once,
the rows as integers. On PostgreSQL it unnests four integer arrays (the
cents become NUMERIC in the database); on SQLite it reads the rows from one
JSON array with `json_each`, the cents being exactly what `ExactDecimal`
stores there (integer minor units). One statement per batch also lets the
database work while Python computes the next batch (see `Pipeline`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.accounting.depreciation.models import DepreciationEntry
from progress_sse.storage.bulk import driver_connection

Row = tuple[int, int, int, int]  # asset id, amount, accumulated, book value (cents)

_COLUMNS = (
    "tenant_id, asset_id, year, month, amount, accumulated, book_value, "
    "document_no, run_id, created_at, document_id"
)
_PG = (
    f"INSERT INTO depreciation_entries ({_COLUMNS}) "
    "SELECT $1, a, $2, $3, am::numeric / 100, ac::numeric / 100, bv::numeric / 100, "
    "$4, $5, $6, $7 "
    "FROM unnest($8::int[], $9::bigint[], $10::bigint[], $11::bigint[]) AS t(a, am, ac, bv)"
)
# A JSON integer that fits 64 bits comes out of json_extract as an INTEGER, and every cent
# amount of a NUMERIC(18, 2) column does (|cents| < 10^18 < 2^63): never a REAL.
_SQLITE = (
    f"INSERT INTO depreciation_entries ({_COLUMNS}) "
    "SELECT ?, json_extract(value, '$[0]'), ?, ?, json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]'), json_extract(value, '$[3]'), ?, ?, ?, ? FROM json_each(?)"
)


@dataclass(frozen=True, slots=True)
class EntryHead:
    """What every entry of one run shares."""

    tenant_id: str
    year: int
    month: int
    document_no: str
    run_id: str
    created_at: datetime
    document_id: int


async def post_entries(session: AsyncSession, head: EntryHead, rows: list[Row]) -> None:
    if not rows:
        return
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        driver = await driver_connection(session)
        ids, amounts, accumulated, book_values = (
            list(column) for column in zip(*rows, strict=True)
        )
        await driver.execute(
            _PG, head.tenant_id, head.year, head.month, head.document_no, head.run_id,
            head.created_at, head.document_id, ids, amounts, accumulated, book_values,
        )  # fmt: skip
        return
    # The column type as this dialect binds it (text on SQLite): never a raw datetime,
    # whose sqlite3 default adapter is deprecated since Python 3.12.
    column = DepreciationEntry.__table__.c.created_at.type.dialect_impl(connection.dialect)
    created = column.bind_processor(connection.dialect)
    stamp = created(head.created_at) if created else head.created_at
    await connection.exec_driver_sql(
        _SQLITE,
        (
            head.tenant_id, head.year, head.month, head.document_no, head.run_id, stamp,
            head.document_id, json.dumps(rows, separators=(",", ":")),
        ),
    )  # fmt: skip


INSERT_BATCH = 5_000  # rows per statement: few round trips, bounded memory, early overlap


class Pipeline:
    """Keeps one batch being posted while the caller computes the next.

    The caller appends entries to `rows` and calls `ready()` now and then;
    each full batch (INSERT_BATCH rows) is sent as one statement in a task of
    its own. The database works on batch k while Python computes batch k+1:
    the PostgreSQL backend in its own process, SQLite in aiosqlite's thread,
    which runs a whole statement without the GIL. Without a head (a dry run)
    nothing is posted.
    """

    def __init__(self, session: AsyncSession, head: EntryHead | None) -> None:
        self.session, self.head = session, head
        self.rows: list[Row] = []
        self._task: asyncio.Task[None] | None = None

    async def ready(self) -> None:
        """Send the rows kept so far once they fill a batch (a dry run drops them)."""
        if self.head is None:
            self.rows.clear()
        elif len(self.rows) >= INSERT_BATCH:
            rows, self.rows = self.rows, []
            await self.send(rows)

    async def send(self, rows: list[Row]) -> None:
        await self.wait()
        if self.head is None or not rows:
            return
        self._task = asyncio.create_task(post_entries(self.session, self.head, rows))
        await asyncio.sleep(0)  # let it hand the batch to the database before we go on

    async def wait(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            await task

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            rows, self.rows = self.rows, []
            await self.send(rows)  # the last, partial batch
            await self.wait()
            return
        with contextlib.suppress(Exception):  # the job's error wins; it rolls back anyway
            await self.wait()
