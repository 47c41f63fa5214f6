"""`asset_import`: upsert an uploaded asset register by code, chunk by chunk, resumably.

Each chunk is its own transaction and records itself in `import_chunks` in
that same transaction; a resumed run (`POST /api/runs/{id}/resume`) skips
every chunk already recorded, so nothing is imported twice. A row that would
change the terms of an asset with posted depreciation is refused in its
chunk (`history.py`). Every refused row, at parse time or in a chunk, is kept
in `import_rejections` for the run's rejected.csv.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.accounting import summaries
from progress_sse.accounting.asset_import.history import Warned, split_by_history
from progress_sse.accounting.asset_import.models import AssetUpload, ImportChunk, ImportRejection
from progress_sse.accounting.asset_import.parse import (
    AssetRow,
    BadRow,
    DecimalChoice,
    Register,
    read_register,
)
from progress_sse.accounting.depreciation.models import Asset
from progress_sse.accounting.depreciation.register import hold_register
from progress_sse.errors import JobError
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.events import utc_now
from progress_sse.runs.progress import StepSpec
from progress_sse.storage.sql import dialect_insert

STEPS = (StepSpec("validate", 0, 10), StepSpec("import", 10, 95), StepSpec("finalize", 95, 100))
MAX_NOTES = 100  # refused rows announced as events; the result lists up to 1000, rejected.csv all
MAX_LISTED = 1000
UPDATED_COLUMNS = (
    "name", "category", "acquired_on", "cost", "salvage", "life_months", "method",
    "annual_rate", "tax_group", "disposed_on", "updated_at",
)  # fmt: skip


class ImportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: int = Field(ge=1)
    chunk_size: int = Field(default=500, ge=1, le=10_000)
    decimal: DecimalChoice = Field(
        default="auto",
        description="the file's decimal mark: point, comma, or auto (see the import docs)",
    )


def import_lock_key(_params: ImportParams) -> str:
    return "asset_import"  # one import per tenant at a time


async def read_upload(ctx: JobContext, upload_id: int) -> str:
    async with ctx.chunk(read_only=True) as session:
        upload = await session.get(AssetUpload, upload_id)
    if upload is None or upload.tenant_id != ctx.tenant_id:
        raise JobError("The uploaded file no longer exists.", code="upload_missing")
    return upload.content


async def committed_chunks(ctx: JobContext) -> set[int]:
    async with ctx.chunk(read_only=True) as session:
        rows = await session.execute(
            sa.select(ImportChunk.chunk_index).where(ImportChunk.run_id == ctx.run_id)
        )
        return set(rows.scalars())


async def upsert(session: AsyncSession, tenant_id: str, rows: Sequence[AssetRow]) -> None:
    """One executemany of `INSERT ... ON CONFLICT (tenant, code) DO UPDATE`."""
    if not rows:
        return
    now = utc_now()
    stmt = dialect_insert(session, Asset)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "code"],
        set_={c: getattr(stmt.excluded, c) for c in UPDATED_COLUMNS},
    )
    await session.execute(stmt, [
        {
            "tenant_id": tenant_id, "code": r.code, "name": r.name, "category": r.category,
            "acquired_on": r.acquired_on, "cost": r.cost, "salvage": r.salvage,
            "life_months": r.life_months, "method": r.method.value,
            "annual_rate": r.annual_rate, "tax_group": r.tax_group.value if r.tax_group else None,
            "disposed_on": r.disposed_on, "created_at": now, "updated_at": now,
        }
        for r in rows
    ])  # fmt: skip


async def record_rejections(session: AsyncSession, run_id: str, bad: Sequence[BadRow]) -> None:
    """Keep refused rows for rejected.csv; a resumed run's repeats are no-ops."""
    if not bad:
        return
    stmt = dialect_insert(session, ImportRejection).on_conflict_do_nothing(
        index_elements=["run_id", "line"]
    )
    await session.execute(stmt, [
        {"run_id": run_id, "line": b.line, "code": b.code, "reason": b.reason,
         "fields": list(b.values)}
        for b in bad
    ])  # fmt: skip


async def announce(ctx: JobContext, bad: Sequence[BadRow], noted: int) -> int:
    """One event per refused row, up to MAX_NOTES in all; returns how many were announced."""
    for row in bad[: max(0, MAX_NOTES - noted)]:
        named = f" ({row.code})" if row.code else ""
        await ctx.note(f"Line {row.line}{named} refused: {row.reason}")
    return min(MAX_NOTES, noted + len(bad))


async def validate(ctx: JobContext, params: ImportParams) -> Register:
    async with ctx.step("validate", message="Reading and checking the file"):
        register = read_register(await read_upload(ctx, params.upload_id), params.decimal)
        async with ctx.chunk() as session:
            await record_rejections(session, ctx.run_id, register.bad)
        await announce(ctx, register.bad, 0)
        if register.bad:
            await ctx.skip(
                len(register.bad),
                message=f"{len(register.rows)} rows valid, {len(register.bad)} refused",
            )
    return register


async def run_import(ctx: JobContext, params: ImportParams) -> dict[str, Any]:
    register = await validate(ctx, params)
    rows, size = register.rows, params.chunk_size
    total, announced = len(rows), min(MAX_NOTES, len(register.bad))
    warnings: list[Warned] = []
    chunks = [rows[i : i + size] for i in range(0, total, size)]
    done = await committed_chunks(ctx)
    processed = sum(len(chunks[i]) for i in done if i < len(chunks))
    refused_so_far = await refused_in_import(ctx, len(register.bad))  # by earlier attempts
    async with ctx.step("import", total=total, message=f"Importing {total} rows"):
        await ctx.progress(processed=processed, skipped=refused_so_far)
        for index, chunk in enumerate(chunks):
            if index in done:
                continue  # committed by an earlier attempt
            refused, noted = await import_chunk(ctx, index, chunk)
            announced = await announce(ctx, refused, announced)
            for warned in noted:
                await ctx.note(f"Line {warned.line} ({warned.code}): {warned.message}")
            warnings += noted
            processed, refused_so_far = processed + len(chunk), refused_so_far + len(refused)
            await ctx.progress(
                processed=processed, skipped=refused_so_far,
                message=f"Imported {processed} of {total} rows",
            )  # fmt: skip
    await ctx.enter_step("finalize", message="Done")
    return await import_summary(ctx, register, warnings, len(chunks), len(done))


async def import_chunk(
    ctx: JobContext, index: int, chunk: Sequence[AssetRow]
) -> tuple[list[BadRow], list[Warned]]:
    """One chunk, one transaction: checked against posted history, upserted, recorded."""
    async with ctx.chunk() as session:
        await hold_register(session, ctx.tenant_id)  # not while a posting reads it
        accepted, refused, noted = await split_by_history(session, ctx.tenant_id, chunk)
        await upsert(session, ctx.tenant_id, accepted)
        await record_rejections(session, ctx.run_id, refused)
        session.add(ImportChunk(
            run_id=ctx.run_id, chunk_index=index, rows=len(chunk),
            attempt=ctx.attempt, committed_at=utc_now(),
        ))  # fmt: skip
    return refused, noted


async def rejections(ctx: JobContext) -> list[BadRow]:
    """Every row this run refused, at parse time or against posted history, by line."""
    async with ctx.chunk(read_only=True) as session:
        return await stored_rejections(session, ctx.run_id)


async def refused_in_import(ctx: JobContext, parse_time: int) -> int:
    """Rows of the import step refused so far (the step's skipped count)."""
    async with ctx.chunk(read_only=True) as session:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(ImportRejection)
            .where(ImportRejection.run_id == ctx.run_id)
        )  # fmt: skip
    return int(count or 0) - parse_time


async def stored_rejections(session: AsyncSession, run_id: str) -> list[BadRow]:
    rows = await session.execute(
        sa.select(ImportRejection)
        .where(ImportRejection.run_id == run_id)
        .order_by(ImportRejection.line)
    )
    return [BadRow(r.line, r.reason, r.code, tuple(r.fields)) for r in rows.scalars()]


async def import_summary(
    ctx: JobContext, register: Register, warnings: list[Warned], chunks: int, from_earlier: int
) -> dict[str, Any]:
    bad = await rejections(ctx)
    return {
        "records_processed": len(register.rows) - (len(bad) - len(register.bad)),
        "bad_row_count": len(bad),
        "bad_rows": [
            {"line": b.line, "code": b.code, "reason": b.reason} for b in bad[:MAX_LISTED]
        ],
        "rejected_url": f"/api/assets/imports/{ctx.run_id}/rejected.csv" if bad else None,
        # rows accepted into months already posted (this attempt's; all are in the run log)
        "warnings": [
            {"line": w.line, "code": w.code, "message": w.message} for w in warnings[:MAX_LISTED]
        ],
        "separator": register.delimiter,
        "decimal": register.decimal,
        "chunks": chunks,
        "chunks_from_earlier_attempts": from_earlier,
    }


ASSET_IMPORT = JobKind(
    name="asset_import",
    title="Asset import",
    description="Import a fixed-asset register from an uploaded CSV (POST /api/assets/import).",
    summarize=summaries.asset_import,
    params=ImportParams,
    run=run_import,
    steps=STEPS,
    lock_key=import_lock_key,
    resumable=True,
    pausable=True,  # every chunk end is a safe place to stop
)
