"""`table_sync`: copy a legacy system's tables into the application database.

One step per table (the bar is shared by each table's size), one committed
transaction per batch (`ctx.chunk()`), and a checkpoint committed with each
batch: a run that fails or is cancelled keeps what it copied, and resuming
it carries on after the last committed batch of each table.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse import JobContext, JobError, JobKind, StepSpec, even_steps
from table_sync import source
from table_sync.models import SyncCheckpoint, SyncedRecord
from table_sync.source import Table


class SyncParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tables: list[Table] = Field(
        default=list(Table), min_length=1, description="the tables to copy, in this order"
    )
    batch_size: int = Field(default=500, ge=10, le=10_000, description="rows per transaction")
    scale: float = Field(default=1.0, gt=0, le=20, description="the source's size (1 = full)")
    delay_ms: int = Field(default=0, ge=0, le=10_000, description="pause per batch")
    outage_after: int | None = Field(
        default=None, ge=1,
        description="batches before the source drops the connection (first attempt; try resume)",
    )  # fmt: skip


def steps(params: SyncParams) -> tuple[StepSpec, ...]:
    """One step per table, each a slice of the bar as large as the table."""
    tables = list(dict.fromkeys(params.tables))
    return even_steps([t.value for t in tables], [source.size(t, params.scale) for t in tables])


def lock_key(params: SyncParams) -> str:
    return "table_sync"  # one copy at a time per tenant


async def run_sync(ctx: JobContext, params: SyncParams) -> dict[str, Any]:
    copied: dict[str, int] = {}
    batches = 0
    for table in dict.fromkeys(params.tables):
        copied[table.value], done = await copy_table(ctx, params, table, batches)
        batches += done
    return {"records_processed": sum(copied.values()), "tables": copied, "batches": batches}


async def copy_table(
    ctx: JobContext, params: SyncParams, table: Table, batches_before: int
) -> tuple[int, int]:
    """Copy one table from its checkpoint on: (rows in the table, batches this attempt)."""
    total = source.size(table, params.scale)
    after = await checkpoint(ctx, table)
    batches = 0
    async with ctx.step(table.value, total=total, message=f"Copying {table}"):
        await ctx.progress(processed=after)
        while rows := source.page(table, params.scale, after, params.batch_size):
            if ctx.attempt == 1 and params.outage_after == batches_before + batches:
                raise JobError(
                    f"The source system dropped the connection while copying {table}; "
                    "the batches copied so far are kept. Resume to carry on.",
                    code="source_unavailable",
                )
            async with ctx.chunk() as session:
                await upsert(session, ctx, table, rows)
                after = rows[-1]["key"]
                await save_checkpoint(session, ctx.run_id, table, after)
            batches += 1
            await ctx.progress(processed=after, message=f"Copied {after} of {total} {table}")
            if params.delay_ms:
                await asyncio.sleep(params.delay_ms / 1000)
    return total, batches


async def checkpoint(ctx: JobContext, table: Table) -> int:
    """The last key an earlier attempt of this run committed for `table` (0: none)."""
    async with ctx.chunk(read_only=True) as session:
        last = await session.scalar(
            sa.select(SyncCheckpoint.last_key).where(
                SyncCheckpoint.run_id == ctx.run_id, SyncCheckpoint.source_table == table.value
            )
        )
    return int(last or 0)


async def upsert(
    session: AsyncSession, ctx: JobContext, table: Table, rows: list[dict[str, Any]]
) -> None:
    """Insert the batch, or update rows an earlier sync copied (same tenant, table and key)."""
    now = datetime.now(UTC)
    values = [
        {
            "tenant_id": ctx.tenant_id, "source_table": table.value, "source_key": row["key"],
            "data": row, "synced_at": now, "run_id": ctx.run_id,
        }
        for row in rows
    ]  # fmt: skip
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(SyncedRecord)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["tenant_id", "source_table", "source_key"],
            set_={"data": stmt.excluded.data, "synced_at": now, "run_id": ctx.run_id},
        ),
        values,
    )


async def save_checkpoint(session: AsyncSession, run_id: str, table: Table, last_key: int) -> None:
    """In the batch's own transaction: the checkpoint and the rows commit together."""
    saved = await session.get(SyncCheckpoint, (run_id, table.value))
    if saved is None:
        session.add(
            SyncCheckpoint(run_id=run_id, source_table=table.value, last_key=last_key, batches=1)
        )
    else:
        saved.last_key, saved.batches = last_key, saved.batches + 1


def summarize(result: dict[str, Any]) -> str:
    """`Copied 375 rows: customers 300, products 75.`"""
    # by name: PostgreSQL's jsonb keeps no key order, and the sentence must not depend on it
    tables = ", ".join(f"{table} {rows:,}" for table, rows in sorted(result["tables"].items()))
    return f"Copied {result['records_processed']:,} rows: {tables}."


TABLE_SYNC = JobKind(
    name="table_sync",
    title="Copy the legacy system's tables",
    description="Copies customers, products, invoices and payments in batches; resumable.",
    summarize=summarize,
    params=SyncParams,
    run=run_sync,
    steps=steps,
    lock_key=lock_key,
    resumable=True,
    pausable=True,  # every chunk end is a safe place to stop
)
