"""Posted history is immutable: a re-import may not change what posted entries came from.

An asset with entries in a posted depreciation document keeps the terms
those entries were computed from (cost, acquisition date, method, tax group,
useful life, rate, salvage), and may not be disposed of before the last
posted month. Its name and category may change. A row that would change
the rest is refused with a reason naming the month posted through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.jobs.asset_import.parse import AssetRow, BadRow
from progress_sse.jobs.depreciation.models import Asset, DepreciationDocument, DepreciationEntry
from progress_sse.jobs.depreciation.periods import Period

# the terms a posted entry was computed from, as (column, label)
TERMS = (
    ("cost", "cost"), ("acquired_on", "acquisition date"), ("method", "method"),
    ("tax_group", "tax group"), ("life_months", "useful life (months)"),
    ("annual_rate", "annual rate"), ("salvage", "salvage"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Posted:
    """An asset as stored, with the last month it has a posted entry for."""

    terms: dict[str, Any]
    disposed_on: date | None
    through: Period


def _value(value: Any) -> Any:
    """What a term is compared as: enums by value, decimals by amount."""
    return getattr(value, "value", value)


def changed_terms(posted: Posted, row: AssetRow) -> list[str]:
    """`label (old → new)` for every term the row would change."""
    changes = []
    for column, label in TERMS:
        old, new = _value(posted.terms[column]), _value(getattr(row, column))
        if old != new:
            changes.append(f"{label} ({_shown(old)} → {_shown(new)})")
    return changes


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def refusal(row: AssetRow, posted: Posted) -> str | None:
    """Why `row` may not replace the stored asset, or None when it may."""
    through, changes = posted.through, changed_terms(posted, row)
    disposed = row.disposed_on
    if disposed is not None and Period(disposed.year, disposed.month).index < through.index:
        changes.append(f"disposal date ({disposed} is before {through})")
    if not changes:
        return None
    return (
        f"asset {row.code} has posted depreciation through {through}; "
        f"{'; '.join(changes)} cannot change. Name and category may; "
        "register a correction as a new asset."
    )


async def posted_assets(
    session: AsyncSession, tenant_id: str, codes: Sequence[str]
) -> dict[str, Posted]:
    """The assets among `codes` that have posted entries, by code (one grouped query)."""
    a, e, d = Asset, DepreciationEntry, DepreciationDocument
    last = sa.func.max(e.year * 12 + e.month - 1)
    columns = [getattr(a, column) for column, _ in TERMS]
    query = (
        sa.select(a.code, a.disposed_on, last, *columns)
        .join(e, e.asset_id == a.id)
        .join(d, d.id == e.document_id)
        .where(a.tenant_id == tenant_id, a.code.in_(codes))
        .where(d.kind == "depreciation", d.status == "posted")
        .group_by(a.id)
    )
    found = {}
    for code, disposed, through, *terms in await session.execute(query):
        names = [column for column, _ in TERMS]
        found[code] = Posted(
            dict(zip(names, terms, strict=True)), disposed, Period.from_index(through)
        )
    return found


async def split_by_history(
    session: AsyncSession, tenant_id: str, rows: Sequence[AssetRow]
) -> tuple[list[AssetRow], list[BadRow]]:
    """The rows that may be upserted, and those refused for changing posted history."""
    posted = await posted_assets(session, tenant_id, [r.code for r in rows])
    accepted: list[AssetRow] = []
    refused: list[BadRow] = []
    for row in rows:
        reason = refusal(row, posted[row.code]) if row.code in posted else None
        if reason is None:
            accepted.append(row)
        else:
            refused.append(BadRow(row.line, reason, row.code, row.values))
    return accepted, refused
