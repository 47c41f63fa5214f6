"""`asset_import`: upsert an uploaded asset register by code, chunk by chunk, resumably.

Each chunk is its own transaction and records itself in `import_chunks` in
that same transaction; a resumed run (`POST /api/runs/{id}/resume`) skips
every chunk already recorded, so nothing is imported twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.context import JobContext
from progress_sse.errors import JobError
from progress_sse.events import utc_now
from progress_sse.jobs import JobKind
from progress_sse.jobs.asset_import.models import AssetUpload, ImportChunk
from progress_sse.jobs.asset_import.parse import AssetRow, BadRow, parse_assets
from progress_sse.jobs.depreciation.models import Asset
from progress_sse.progress import StepSpec
from progress_sse.sql import dialect_insert

STEPS = (StepSpec("validate", 0, 10), StepSpec("import", 10, 95), StepSpec("finalize", 95, 100))
MAX_NOTES = 100  # bad rows announced as events; all of them are in the result (up to 1000)
MAX_LISTED = 1000
UPDATED_COLUMNS = (
    "name", "category", "acquired_on", "cost", "salvage", "life_months", "method",
    "annual_rate", "tax_group", "disposed_on", "updated_at",
)  # fmt: skip

AfterChunk = Callable[[JobContext, int], Awaitable[None]]  # tests inject crashes here


class ImportParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upload_id: int = Field(ge=1)
    chunk_size: int = Field(default=500, ge=1, le=10_000)


def import_lock_key(_params: ImportParams) -> str:
    return "asset_import"  # one import per tenant at a time


async def read_upload(ctx: JobContext, upload_id: int) -> str:
    async with ctx.chunk() as session:
        upload = await session.get(AssetUpload, upload_id)
    if upload is None or upload.tenant_id != ctx.tenant_id:
        raise JobError("The uploaded file no longer exists.", code="upload_missing")
    return upload.content


async def committed_chunks(ctx: JobContext) -> set[int]:
    async with ctx.chunk() as session:
        rows = await session.execute(
            sa.select(ImportChunk.chunk_index).where(ImportChunk.run_id == ctx.run_id)
        )
        return set(rows.scalars())


async def upsert(session: AsyncSession, tenant_id: str, rows: list[AssetRow]) -> None:
    """One executemany of `INSERT ... ON CONFLICT (tenant, code) DO UPDATE`."""
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


async def validate(ctx: JobContext, upload_id: int) -> tuple[list[AssetRow], list[BadRow]]:
    async with ctx.step("validate", message="Reading and checking the file"):
        rows, bad = parse_assets(await read_upload(ctx, upload_id))
        for row in bad[:MAX_NOTES]:
            await ctx.note(f"Line {row.line} skipped: {row.reason}")
        if bad:
            await ctx.skip(len(bad), message=f"{len(rows)} rows valid, {len(bad)} skipped")
    return rows, bad


async def run_import(
    ctx: JobContext, params: ImportParams, *, after_chunk: AfterChunk | None = None
) -> dict[str, Any]:
    rows, bad = await validate(ctx, params.upload_id)
    size, total = params.chunk_size, len(rows)
    chunks = [rows[i : i + size] for i in range(0, total, size)]
    done = await committed_chunks(ctx)
    processed = sum(len(chunks[i]) for i in done if i < len(chunks))
    async with ctx.step("import", total=total, message=f"Importing {total} rows"):
        await ctx.progress(processed=processed)
        for index, chunk in enumerate(chunks):
            if index in done:
                continue  # committed by an earlier attempt
            async with ctx.chunk() as session:
                await upsert(session, ctx.tenant_id, chunk)
                session.add(ImportChunk(
                    run_id=ctx.run_id, chunk_index=index, rows=len(chunk),
                    attempt=ctx.attempt, committed_at=utc_now(),
                ))  # fmt: skip
            processed += len(chunk)
            await ctx.progress(processed=processed, message=f"Imported {processed} of {total} rows")
            if after_chunk is not None:
                await after_chunk(ctx, index)
    await ctx.enter_step("finalize", message="Done")
    return {
        "records_processed": total,
        "bad_row_count": len(bad),
        "bad_rows": [{"line": b.line, "reason": b.reason} for b in bad[:MAX_LISTED]],
        "chunks": len(chunks),
        "chunks_from_earlier_attempts": len(done),
    }


ASSET_IMPORT = JobKind(
    name="asset_import",
    params=ImportParams,
    run=run_import,
    steps=STEPS,
    lock_key=import_lock_key,
    resumable=True,
)
