"""Reading a period's posted entries (the depreciation journal)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.jobs.depreciation.models import Asset, DepreciationEntry
from progress_sse.jobs.depreciation.periods import Period

JOURNAL_COLUMNS = (
    "document_no", "asset_code", "asset_name", "category", "year", "month",
    "amount", "accumulated", "book_value", "run_id",
)  # fmt: skip

_QUERY = sa.select(
    DepreciationEntry.document_no,
    Asset.code,
    Asset.name,
    Asset.category,
    DepreciationEntry.year,
    DepreciationEntry.month,
    DepreciationEntry.amount,
    DepreciationEntry.accumulated,
    DepreciationEntry.book_value,
    DepreciationEntry.run_id,
).join(Asset, Asset.id == DepreciationEntry.asset_id)


async def journal(
    session: AsyncSession, tenant_id: str, period: Period
) -> tuple[list[dict[str, Any]], Decimal]:
    """The period's entries by asset code, and their total (exact Decimal)."""
    rows = await session.execute(
        _QUERY.where(
            DepreciationEntry.tenant_id == tenant_id,
            DepreciationEntry.year == period.year,
            DepreciationEntry.month == period.month,
        ).order_by(Asset.code)
    )
    entries = [dict(zip(JOURNAL_COLUMNS, row, strict=True)) for row in rows]
    return entries, sum((e["amount"] for e in entries), Decimal("0.00"))
