"""`asset_depreciation`: depreciate every asset of a tenant for one month, in one transaction.

Steps and ranges follow seed 001 ("proses aktiva"): init 0-5, prepare 5-15,
load 15-35, process 35-90, finalize 90-100. Everything happens in the run's
one business transaction, so a failure, a cancel or a crash leaves the
period exactly as it was, its earlier documents and numbers included.

A rerun of a posted month reverses the earlier document and posts a new one
(`documents.py`); months are posted in order (`ordering.py`); a dry run goes
through the same steps in a read-only transaction and only reports.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Self

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.context import JobContext
from progress_sse.errors import Conflict, JobError
from progress_sse.events import utc_now
from progress_sse.jobs import JobKind
from progress_sse.jobs.depreciation.documents import (
    DocumentKind,
    PostedDocument,
    Posting,
    close_document,
    next_number,
    open_document,
    posted_document,
    reversal_by,
    reverse,
    too_large,
)
from progress_sse.jobs.depreciation.models import Asset
from progress_sse.jobs.depreciation.ordering import (
    UNPOSTED,
    first_unposted_month,
    unposted_message,
)
from progress_sse.jobs.depreciation.periods import (
    Period,
    is_locked,
    lock_key_of,
    refuse_locked,
)
from progress_sse.jobs.depreciation.posting import EntryHead, Row, post_entries
from progress_sse.jobs.depreciation.register import RegisterAsset, hold_register, load_assets
from progress_sse.jobs.depreciation.schedule import Skipped, depreciate_cents, money_from_cents
from progress_sse.jobs.depreciation.tally import Tally, Totals
from progress_sse.progress import StepSpec

STEPS = (
    StepSpec("init", 0, 5),
    StepSpec("prepare", 5, 15),
    StepSpec("load", 15, 35),
    StepSpec("process", 35, 90),
    StepSpec("finalize", 90, 100),
)
INSERT_BATCH = 5_000  # rows per executemany: few round trips, bounded memory

Fault = Callable[[int], None]  # tests inject a failure at the n-th asset


class DepreciationParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    dry_run: bool = Field(
        default=False, description="the same steps and summary; posts, locks and numbers nothing"
    )
    allow_earlier_unposted: bool = Field(
        default=False,
        description="post although an earlier month that needed a posting has none (recorded)",
    )

    @property
    def period(self) -> Period:
        return Period(self.year, self.month)


def lock_key(params: DepreciationParams) -> str | None:
    """One posting run per month at a time; a dry run changes nothing and locks nothing."""
    return None if params.dry_run else lock_key_of(params.period)


async def precheck(
    business: async_sessionmaker[AsyncSession], tenant_id: str, params: DepreciationParams
) -> None:
    """409 before a posting run exists: a locked month, or an earlier month left unposted."""
    if params.dry_run:
        return
    await refuse_locked(business, tenant_id, params.period)
    if not params.allow_earlier_unposted:
        async with business() as session:
            first = await first_unposted_month(session, tenant_id, params.period)
        if first is not None:
            raise Conflict(unposted_message(first, params.period), code=UNPOSTED, period=str(first))


@dataclass(frozen=True, slots=True)
class Plan:
    """What `prepare` decided: the numbers taken and the document a rerun reverses.

    `done`: an earlier attempt of this same run committed the posting (on
    SQLite the run store is another file, so a crash can fall between the
    business COMMIT and `completed`); this attempt only reports it.
    """

    document_no: str | None
    reversal_no: str | None
    reverses: str | None
    original: PostedDocument | None = None  # to reverse now
    done: bool = False


async def run_depreciation(
    ctx: JobContext, params: DepreciationParams, *, fault: Fault | None = None
) -> dict[str, Any]:
    period = params.period
    session = await ctx.session(read_only=params.dry_run)
    async with ctx.step("init", message=f"Checking period {period}"):
        warnings, earlier = await check_period(session, ctx.tenant_id, params)
    async with ctx.step("prepare", message="Preparing the month end and document numbers"):
        plan = await prepare(session, ctx.run_id, ctx.tenant_id, params)
    posting = Posting(
        ctx.tenant_id, period, ctx.run_id, ctx.created_by, params.model_dump(mode="json"),
        utc_now(), opening_of(earlier, plan),
    )  # fmt: skip
    async with ctx.step("load", message="Loading the asset register"):
        head = await open_documents(ctx, session, posting, plan)
        await ctx.progress(fraction=0.5, message="Loading the asset register")
        assets = await load_assets(session, ctx.tenant_id)
    tally = await process(ctx, session, assets, period, head, fault)
    await ctx.enter_step("finalize", message=finalize_message(plan, params))
    await finalize(ctx, session, head, tally, warnings)
    return dict(await summary(session, params, plan, posting, tally, len(assets), warnings))


async def finalize(
    ctx: JobContext, session: AsyncSession, head: EntryHead | None, tally: Tally,
    warnings: list[str],
) -> None:  # fmt: skip
    """Close the new document; refuse what it cannot hold or a month locked meanwhile.

    A dry run (no head) only adds what would stop the posting to `warnings`.
    """
    total = money_from_cents(tally.cents)
    if (beyond := too_large(total)) is not None:
        if head is not None:
            raise JobError(beyond, code="total_too_large")
        warnings.append(beyond)
    if head is None:
        return
    await close_document(session, head.document_id, tally.entries, total)
    period = Period(head.year, head.month)
    if await is_locked(session, ctx.tenant_id, period):  # locked while we worked
        raise JobError(f"The period {period} was locked during the run.", code="period_locked")


def opening_of(earlier: Period | None, plan: Plan) -> str | None:
    """What the new document records as left unposted: this run's allowance, or, on a
    rerun of the month that opened the books, that month's own (it stays the opening)."""
    if earlier is not None:
        return str(earlier)
    return plan.original.earlier_unposted if plan.original is not None else None


def finalize_message(plan: Plan, params: DepreciationParams) -> str:
    if params.dry_run:
        return "Dry run: nothing was posted"
    if plan.done:
        return f"{plan.document_no} was posted by an earlier attempt of this run"
    return f"Posting {plan.document_no}"


async def check_period(
    session: AsyncSession, tenant_id: str, params: DepreciationParams
) -> tuple[list[str], Period | None]:
    """Refuse a locked month or one posted out of order; a dry run only warns.

    Returns the warnings and the first earlier month left unposted (if any).
    """
    period, dry_run = params.period, params.dry_run
    warnings: list[str] = []
    if await is_locked(session, tenant_id, period):
        if not dry_run:
            raise JobError(f"The period {period} is locked.", code="period_locked")
        warnings.append(f"{period} is locked: posting it is refused until an admin unlocks it.")
    first = await first_unposted_month(session, tenant_id, period)
    if first is not None and not params.allow_earlier_unposted:
        if not dry_run:
            raise JobError(unposted_message(first, period), code=UNPOSTED)
        warnings.append(unposted_message(first, period))
    return warnings, first if params.allow_earlier_unposted else None


async def prepare(
    session: AsyncSession, run_id: str, tenant_id: str, params: DepreciationParams
) -> Plan:
    """Take the document numbers: the reversal's first (on a rerun), then the posting's."""
    period = params.period
    if not params.dry_run:
        await hold_register(session, tenant_id)  # no import changes terms under this posting
    original = await posted_document(session, tenant_id, period, lock=not params.dry_run)
    if params.dry_run:
        return Plan(None, None, original.document_no if original else None, original)
    if original is not None and original.run_id == run_id:
        reversal_no, reverses = await reversal_by(session, run_id) or (None, None)
        return Plan(original.document_no, reversal_no, reverses, done=True)
    reversal_no = None if original is None else await next_number(session, tenant_id, period)
    number = await next_number(session, tenant_id, period)
    return Plan(number, reversal_no, original.document_no if original else None, original)


async def open_documents(
    ctx: JobContext, session: AsyncSession, posting: Posting, plan: Plan
) -> EntryHead | None:
    """Reverse the month's earlier document (on a rerun), then open the new one.

    None when nothing is to be posted (a dry run, or an attempt that finds
    its own posting committed).
    """
    if plan.document_no is None or plan.done:
        return None
    if plan.original is not None and plan.reversal_no is not None:
        await ctx.set_message(f"Reversing {plan.original.document_no} as {plan.reversal_no}")
        await reverse(session, posting, plan.original, plan.reversal_no)
    document_id = await open_document(session, posting, plan.document_no, DocumentKind.DEPRECIATION)
    period = posting.period
    return EntryHead(
        ctx.tenant_id, period.year, period.month, plan.document_no, ctx.run_id, posting.at,
        document_id,
    )  # fmt: skip


async def process(
    ctx: JobContext,
    session: AsyncSession,
    assets: list[RegisterAsset],
    period: Period,
    head: EntryHead | None,
    fault: Fault | None,
) -> Tally:
    """Depreciate each asset (pure), report each one, post in batches (unless a dry run).

    A batch is posted while the next is computed (see `Pipeline`), in cents.
    """
    n, tally, year, month = len(assets), Tally(), period.year, period.month
    async with (
        ctx.step("process", total=n, message=f"Processing asset 1 of {n}"),
        Pipeline(session, head) as pipeline,
    ):
        for i, (asset_id, terms, group) in enumerate(assets, 1):
            if fault is not None:
                fault(i)
            result = depreciate_cents(terms, year, month)
            if isinstance(result, Skipped):
                tally.skip(result.reason.value, asset_id)
            else:
                tally.add(group, terms.method.value, result[0])
                await pipeline.add((asset_id, *result))
            await ctx.progress(
                processed=i, skipped=tally.skipped_count, message=f"Processing asset {i} of {n}"
            )
    return tally


class Pipeline:
    """Keeps one batch being posted while the caller computes the next.

    The PostgreSQL backend checks and indexes batch k while Python prepares
    batch k+1: on two cores a posting run overlaps its compute with its I/O.
    SQLite binds parameters under the GIL in its own thread, so there the
    batch is simply posted in turn. Without a head (a dry run) nothing is posted.
    """

    def __init__(self, session: AsyncSession, head: EntryHead | None) -> None:
        self.session, self.head = session, head
        self.overlap = session.get_bind().dialect.name == "postgresql"
        self._task: asyncio.Task[None] | None = None
        self._batch: list[Row] = []

    async def add(self, row: Row) -> None:
        """Keep a row; a full batch (INSERT_BATCH rows) is sent on its way."""
        if self.head is None:
            return
        self._batch.append(row)
        if len(self._batch) >= INSERT_BATCH:
            batch, self._batch = self._batch, []
            await self.send(batch)

    async def send(self, rows: list[Row]) -> None:
        await self.wait()
        if self.head is None or not rows:
            return
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
            await self.send(self._batch)  # the last, partial batch
            await self.wait()
            return
        with contextlib.suppress(Exception):  # the job's error wins; it rolls back anyway
            await self.wait()


class DepreciationResult(Totals):
    """A run's result (`run.result`): posted, or in a dry run what would be posted."""

    period: str
    month_end: str
    dry_run: bool
    document_no: str | None
    reversal_no: str | None
    reverses: str | None
    records_processed: int
    skipped_assets: dict[str, list[str]]
    assets: int
    earlier_unposted: str | None
    warnings: list[str]


async def summary(
    session: AsyncSession,
    params: DepreciationParams,
    plan: Plan,
    posting: Posting,
    tally: Tally,
    assets: int,
    warnings: list[str],
) -> DepreciationResult:
    """The run's result: what was (or, in a dry run, would be) posted, and what was skipped."""
    period = params.period
    last_day = calendar.monthrange(period.year, period.month)[1]
    return {
        "period": str(period),
        "month_end": date(period.year, period.month, last_day).isoformat(),
        "dry_run": params.dry_run,
        "document_no": plan.document_no,
        "reversal_no": plan.reversal_no,
        "reverses": plan.reverses,
        "records_processed": tally.entries,
        **tally.totals(),
        "skipped_assets": await codes_of(session, tally.skipped_ids),
        "assets": assets,
        "earlier_unposted": posting.earlier_unposted,
        "warnings": warnings,
    }


async def codes_of(session: AsyncSession, ids: dict[str, list[int]]) -> dict[str, list[str]]:
    """Asset codes for the ids kept per skip reason (a few, to name examples)."""
    wanted = [i for group in ids.values() for i in group]
    if not wanted:
        return {}
    rows = await session.execute(sa.select(Asset.id, Asset.code).where(Asset.id.in_(wanted)))
    code: dict[int, str] = {i: c for i, c in rows}
    return {reason: [code[i] for i in group] for reason, group in sorted(ids.items())}


ASSET_DEPRECIATION = JobKind(
    name="asset_depreciation",
    params=DepreciationParams,
    run=run_depreciation,
    steps=STEPS,
    lock_key=lock_key,
    precheck=precheck,
    # One transaction: a new attempt after a failure or crash simply redoes the period
    # (nothing of the failed attempt was committed, its numbers included).
    resumable=True,
)
