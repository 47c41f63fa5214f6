"""`asset_depreciation`: depreciate every asset of a tenant for one month, in one transaction.

Steps and ranges follow seed 001 ("proses aktiva"): init 0-5, prepare 5-15,
load 15-35, process 35-90, finalize 90-100. Everything happens in the run's
one business transaction, so a failure, a cancel or a crash leaves the
period exactly as it was, its earlier entries included.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
from collections import Counter
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any, Self

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.bulk import fetch_tuples
from progress_sse.context import JobContext
from progress_sse.errors import JobError
from progress_sse.events import utc_now
from progress_sse.jobs import JobKind
from progress_sse.jobs.depreciation.models import Asset, DepreciationEntry, DocumentSequence
from progress_sse.jobs.depreciation.periods import Period, is_locked, refuse_locked
from progress_sse.jobs.depreciation.posting import EntryHead, Row, post_entries
from progress_sse.jobs.depreciation.schedule import (
    AssetTerms,
    Method,
    Skipped,
    StoredTerms,
    depreciate_cents,
    money_from_cents,
)
from progress_sse.progress import StepSpec
from progress_sse.sql import dialect_insert

STEPS = (
    StepSpec("init", 0, 5),
    StepSpec("prepare", 5, 15),
    StepSpec("load", 15, 35),
    StepSpec("process", 35, 90),
    StepSpec("finalize", 90, 100),
)
INSERT_BATCH = 5_000  # rows per executemany: few round trips, bounded memory
SERIES = "DEP"

Fault = Callable[[int], None]  # tests inject a failure at the n-th asset


class DepreciationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)

    @property
    def period(self) -> Period:
        return Period(self.year, self.month)


def lock_key(params: DepreciationParams) -> str:
    return f"asset_depreciation:{params.period}"


async def precheck(
    business: async_sessionmaker[AsyncSession], tenant_id: str, params: DepreciationParams
) -> None:
    await refuse_locked(business, tenant_id, params.period)


async def next_document_no(session: AsyncSession, tenant_id: str, period: Period) -> str:
    """`DEP/YYYY/MM/NNNN` from a per-tenant counter moved inside the run's transaction."""
    stmt = dialect_insert(session, DocumentSequence).values(
        tenant_id=tenant_id, series=SERIES, last_value=1
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "series"],
        set_={"last_value": DocumentSequence.last_value + 1},
    ).returning(DocumentSequence.last_value)
    number = (await session.execute(stmt)).scalar_one()
    return f"{SERIES}/{period.year:04d}/{period.month:02d}/{number:04d}"


async def load_assets(session: AsyncSession, tenant_id: str) -> list[tuple[int, AssetTerms]]:
    """Every asset of the tenant in one set-based query, as pure schedule inputs.

    The hot path of a 100,000-asset run: raw driver tuples, converted once here.
    """
    assets = Asset.__table__.c
    stmt = (
        sa.select(
            assets.id, assets.cost, assets.salvage, assets.life_months, assets.method,
            assets.annual_rate, assets.acquired_on, assets.disposed_on,
        )
        .where(assets.tenant_id == tenant_id)
        .order_by(assets.id)
    )  # fmt: skip
    rows = await fetch_tuples(session, stmt)
    if session.get_bind().dialect.name == "sqlite":  # text dates and REAL money
        money, day = _sqlite_money, _sqlite_date
        rows = [
            (i, money(c), money(s), life, m, _sqlite_rate(r), day(a), day(d))
            for i, c, s, life, m, r, a, d in rows
        ]
    methods = {m.value: m for m in Method}
    return [
        (asset_id, StoredTerms(cost, salvage, life, methods[method], rate, acquired, disposed))
        for asset_id, cost, salvage, life, method, rate, acquired, disposed in rows
    ]


def _sqlite_money(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(format(value, ".2f"))


def _sqlite_rate(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(format(value, ".6f"))


def _sqlite_date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


async def run_depreciation(
    ctx: JobContext, params: DepreciationParams, *, fault: Fault | None = None
) -> dict[str, Any]:
    period = params.period
    session = await ctx.session()
    async with ctx.step("init", message=f"Checking period {period}"):
        if await is_locked(session, ctx.tenant_id, period):
            raise JobError(f"The period {period} is locked.", code="period_locked")
    async with ctx.step("prepare", message="Preparing the month end and document number"):
        month_end = date(
            period.year, period.month, calendar.monthrange(period.year, period.month)[1]
        )
        document_no = await next_document_no(session, ctx.tenant_id, period)
    async with ctx.step("load", message=f"Removing earlier entries of {period}"):
        removed = await remove_entries(session, ctx.tenant_id, period)
        await ctx.progress(fraction=0.5, message="Loading the asset register")
        assets = await load_assets(session, ctx.tenant_id)
    head = EntryHead(ctx.tenant_id, period.year, period.month, document_no, ctx.run_id, utc_now())
    posted, skipped, total = await process(ctx, session, assets, head, fault)
    await ctx.enter_step("finalize", message=f"Posting {document_no}")
    if await is_locked(session, ctx.tenant_id, period):  # locked while we worked
        raise JobError(f"The period {period} was locked during the run.", code="period_locked")
    return {
        "period": str(period),
        "month_end": month_end.isoformat(),
        "document_no": document_no,
        "records_processed": posted,
        "skipped": dict(skipped),
        "total_amount": str(total),
        "assets": len(assets),
        "replaced_entries": removed,
    }


async def remove_entries(session: AsyncSession, tenant_id: str, period: Period) -> int:
    """A rerun replaces the period: its earlier entries go, inside this transaction."""
    result = await session.execute(
        sa.delete(DepreciationEntry).where(
            DepreciationEntry.tenant_id == tenant_id,
            DepreciationEntry.year == period.year,
            DepreciationEntry.month == period.month,
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def process(
    ctx: JobContext,
    session: AsyncSession,
    assets: list[tuple[int, AssetTerms]],
    head: EntryHead,
    fault: Fault | None,
) -> tuple[int, Counter[str], Decimal]:
    """Depreciate each asset (pure), report each one, post in batches.

    A batch is posted while the next is computed (see `Pipeline`), in cents.
    """
    n, year, month = len(assets), head.year, head.month
    skipped: Counter[str] = Counter()
    total, batch = 0, []
    posted = 0
    async with (
        ctx.step("process", total=n, message=f"Processing asset 1 of {n}"),
        Pipeline(session, head) as pipeline,
    ):
        for i, (asset_id, asset) in enumerate(assets, 1):
            if fault is not None:
                fault(i)
            result = depreciate_cents(asset, year, month)
            if isinstance(result, Skipped):
                skipped[result.reason.value] += 1
            else:
                total += result[0]
                batch.append((asset_id, *result))
                if len(batch) >= INSERT_BATCH:
                    posted += len(batch)
                    await pipeline.send(batch)
                    batch = []
            await ctx.progress(
                processed=i, skipped=i - posted - len(batch), message=f"Processing asset {i} of {n}"
            )
        posted += len(batch)
        await pipeline.send(batch)
    return posted, skipped, money_from_cents(total)


class Pipeline:
    """Keeps one batch being posted while the caller computes the next.

    The PostgreSQL backend checks and indexes batch k while Python prepares
    batch k+1: on two cores a posting run overlaps its compute with its I/O.
    SQLite binds parameters under the GIL in its own thread, so there the
    batch is simply posted in turn.
    """

    def __init__(self, session: AsyncSession, head: EntryHead) -> None:
        self.session, self.head = session, head
        self.overlap = session.get_bind().dialect.name == "postgresql"
        self._task: asyncio.Task[None] | None = None

    async def send(self, rows: list[Row]) -> None:
        await self.wait()
        if not self.overlap:
            await post_entries(self.session, self.head, rows)
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
            await self.wait()
            return
        with contextlib.suppress(Exception):  # the job's error wins; it rolls back anyway
            await self.wait()


ASSET_DEPRECIATION = JobKind(
    name="asset_depreciation",
    params=DepreciationParams,
    run=run_depreciation,
    steps=STEPS,
    lock_key=lock_key,
    precheck=precheck,
    # One transaction: a new attempt after a failure or crash simply redoes the period
    # (nothing of the failed attempt was committed, and `load` replaces entries).
    resumable=True,
)
