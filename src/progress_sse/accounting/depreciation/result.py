"""A depreciation run's result: what was (or, in a dry run, would be) posted."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.accounting.depreciation.models import Asset, DepreciationEntry
from progress_sse.accounting.depreciation.params import DepreciationParams
from progress_sse.accounting.depreciation.tally import Tally, Totals
from progress_sse.accounting.settings import AccountingSettings


class DepreciationResult(Totals):
    """A run's result (`run.result`): posted, or in a dry run what would be posted."""

    period: str
    currency: str  # ISO 4217, of every amount (PROGRESS_SSE_ACCOUNTING_CURRENCY)
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


@dataclass(frozen=True, slots=True)
class Numbers:
    """The document a run posts (or None: a dry run), and the reversal it posts first."""

    document_no: str | None
    reversal_no: str | None = None
    reverses: str | None = None


async def summary(
    session: AsyncSession,
    params: DepreciationParams,
    numbers: Numbers,
    earlier_unposted: str | None,
    tally: Tally,
    assets: int,
    warnings: list[str],
) -> DepreciationResult:
    """The run's result: what was (or, in a dry run, would be) posted, and what was skipped."""
    period = params.period
    last_day = calendar.monthrange(period.year, period.month)[1]
    return {
        "period": str(period),
        "currency": AccountingSettings().currency,
        "month_end": date(period.year, period.month, last_day).isoformat(),
        "dry_run": params.dry_run,
        "document_no": numbers.document_no,
        "reversal_no": numbers.reversal_no,
        "reverses": numbers.reverses,
        "records_processed": tally.entries,
        **tally.totals(),
        "skipped_assets": await codes_of(session, tally.skipped_ids),
        "assets": assets,
        "earlier_unposted": earlier_unposted,
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


async def document_tally(session: AsyncSession, document_id: int) -> Tally:
    """A posted document's totals per tax group and method, from its lines."""
    e, a = DepreciationEntry, Asset
    rows = await session.execute(
        sa.select(a.tax_group, a.method, sa.func.count(), sa.func.sum(e.amount))
        .join(a, a.id == e.asset_id)
        .where(e.document_id == document_id)
        .group_by(a.tax_group, a.method)
    )
    tally = Tally()
    for group, method, count, amount in rows:
        tally.add(group, method, int(Decimal(amount).scaleb(2)), entries=int(count))
    return tally
