"""`asset_depreciation`: depreciate every asset of a tenant for one month, in one transaction.

Steps and ranges (docs/accounting.md): init 0-5, prepare 5-15, load 15-35,
process 35-90, finalize 90-100. Everything happens in the run's
one business transaction, so a failure, a cancel or a crash leaves the
period exactly as it was, its earlier documents and numbers included.

A rerun of a posted month reverses the earlier document and posts a new one
(`documents.py`); months are posted in order (`ordering.py`); a dry run goes
through the same steps in a read-only transaction and only reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.accounting import summaries
from progress_sse.accounting.depreciation.documents import (
    DocumentKind,
    EarlierPosting,
    PostedDocument,
    Posting,
    close_document,
    next_number,
    open_document,
    posted_by,
    posted_document,
    reverse,
    too_large,
)
from progress_sse.accounting.depreciation.entries import depreciate_rows
from progress_sse.accounting.depreciation.models import Asset
from progress_sse.accounting.depreciation.ordering import (
    UNPOSTED,
    first_unposted_month,
    unposted_message,
)
from progress_sse.accounting.depreciation.params import DepreciationParams
from progress_sse.accounting.depreciation.periods import (
    Period,
    is_locked,
    lock_key_of,
    refuse_locked,
)
from progress_sse.accounting.depreciation.posting import EntryHead, Pipeline
from progress_sse.accounting.depreciation.register import RegisterRow, hold_register, load_register
from progress_sse.accounting.depreciation.report import depreciation_report
from progress_sse.accounting.depreciation.result import (
    DepreciationResult,
    Numbers,
    document_tally,
    summary,
)
from progress_sse.accounting.depreciation.schedule import money_from_cents
from progress_sse.accounting.depreciation.tally import Tally
from progress_sse.errors import Conflict, JobError
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.events import utc_now
from progress_sse.runs.progress import StepSpec

STEPS = (
    StepSpec("init", 0, 5),
    StepSpec("prepare", 5, 15),
    StepSpec("load", 15, 35),
    StepSpec("process", 35, 90),
    StepSpec("finalize", 90, 100),
)


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
class Plan(Numbers):
    """What `prepare` decided: the numbers taken and the document a rerun reverses."""

    original: PostedDocument | None = None  # to reverse now


async def run_depreciation(ctx: JobContext, params: DepreciationParams) -> dict[str, Any]:
    period = params.period
    session = await ctx.session(read_only=params.dry_run)
    if not params.dry_run and (done := await posted_by(session, ctx.run_id)) is not None:
        return dict(await report_earlier(ctx, session, params, done))
    async with ctx.step("init", message=f"Checking period {period}"):
        warnings, earlier = await check_period(session, ctx.tenant_id, params)
    async with ctx.step("prepare", message="Preparing the month end and document numbers"):
        plan = await prepare(session, ctx.tenant_id, params)
    posting = Posting(
        ctx.tenant_id, period, ctx.run_id, ctx.created_by, params.model_dump(mode="json"),
        utc_now(), opening_of(earlier, plan),
    )  # fmt: skip
    async with ctx.step("load", message="Loading the asset register"):
        head = await open_documents(ctx, session, posting, plan)
        await ctx.progress(fraction=0.5, message="Loading the asset register")
        assets = await load_register(session, ctx.tenant_id)
    tally = await process(ctx, session, assets, period, head)
    await ctx.enter_step("finalize", message=finalize_message(plan, params))
    await finalize(ctx, session, head, tally, warnings)
    return dict(
        await summary(session, params, plan, posting.earlier_unposted, tally, len(assets), warnings)
    )


async def report_earlier(
    ctx: JobContext, session: AsyncSession, params: DepreciationParams, earlier: EarlierPosting
) -> DepreciationResult:
    """An earlier attempt of this run committed its posting, then crashed before the run
    store heard (SQLite keeps it in another file): report that document, post nothing.

    Its totals come from its own lines, as stored, whatever the register says now.
    """
    await ctx.enter_step(
        "finalize", message=f"{earlier.document_no} was posted by an earlier attempt of this run"
    )
    tally = await document_tally(session, earlier.id)
    plan = Plan(earlier.document_no, earlier.reversal_no, earlier.reverses)
    note = (
        f"Reported from {earlier.document_no}, which an earlier attempt of this run posted; "
        "skipped assets are not counted again."
    )
    assets = await session.scalar(
        sa.select(sa.func.count()).select_from(Asset).where(Asset.tenant_id == ctx.tenant_id)
    )
    return await summary(
        session, params, plan, earlier.earlier_unposted, tally, int(assets or 0), [note]
    )


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
    return "Dry run: nothing was posted" if params.dry_run else f"Posting {plan.document_no}"


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


async def prepare(session: AsyncSession, tenant_id: str, params: DepreciationParams) -> Plan:
    """Take the document numbers: the reversal's first (on a rerun), then the posting's."""
    period = params.period
    if not params.dry_run:
        await hold_register(session, tenant_id)  # no import changes terms under this posting
    original = await posted_document(session, tenant_id, period, lock=not params.dry_run)
    if params.dry_run:
        return Plan(None, None, original.document_no if original else None, original)
    reversal_no = None if original is None else await next_number(session, tenant_id, period)
    number = await next_number(session, tenant_id, period)
    return Plan(number, reversal_no, original.document_no if original else None, original)


async def open_documents(
    ctx: JobContext, session: AsyncSession, posting: Posting, plan: Plan
) -> EntryHead | None:
    """Reverse the month's earlier document (on a rerun), then open the new one.

    None when nothing is to be posted (a dry run).
    """
    if plan.document_no is None:
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
    assets: Sequence[RegisterRow],
    period: Period,
    head: EntryHead | None,
) -> Tally:
    """Depreciate each asset (pure), report progress, post in batches (unless a dry run).

    Assets are computed in slices (`report_every`) with a progress report
    after each; a batch is posted while the next is computed (see
    `Pipeline`), in cents.
    """
    n, tally, index = len(assets), Tally(), period.index
    every = report_every(n)
    async with (
        ctx.step("process", total=n, message=f"Processing asset 1 of {n}"),
        Pipeline(session, head) as pipeline,
    ):
        for start in range(0, n, every):
            end = min(start + every, n)
            depreciate_rows(assets[start:end], index, tally, pipeline.rows)
            await pipeline.ready()
            await ctx.progress(
                processed=end, skipped=tally.skipped_count, message=f"Processing asset {end} of {n}"
            )
    return tally


def report_every(assets: int) -> int:
    """Assets per progress report: each one up to 200 assets, else 1/200 of them (0.5%).

    The writer sends at most one progress event per interval whatever the
    number of reports; a report per asset cost a 100,000-asset run more than
    its schedule did.
    """
    return max(1, assets // 200)


ASSET_DEPRECIATION = JobKind(
    name="asset_depreciation",
    title="Depreciation",
    description="Depreciate every fixed asset for one month and post the month's document, "
    "in one transaction; a preview (dry run) posts nothing.",
    summarize=summaries.depreciation,
    report=depreciation_report,
    params=DepreciationParams,
    run=run_depreciation,
    steps=STEPS,
    lock_key=lock_key,
    precheck=precheck,
    # One transaction: a new attempt after a failure or crash simply redoes the period
    # (nothing of the failed attempt was committed, its numbers included).
    resumable=True,
)
