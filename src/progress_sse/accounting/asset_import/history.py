"""Posted history is immutable: a re-import may not change what posted months came from.

An asset with entries in a posted depreciation document keeps the terms
those entries were computed from (cost, acquisition date, method, tax group,
useful life, rate, salvage). Its disposal date may change only where no
posted month is affected: both the old and the new disposal month must be
at or after the tenant's last posted month. Name and category may change.
A row that would change the rest is refused with a reason naming the
months posted.

An asset without posted entries that a row adds, or moves, into months
already posted is accepted with a warning: those months were posted without
it, and rerunning them (each rerun reverses the earlier document) brings it in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.accounting.asset_import.parse import AssetRow, BadRow
from progress_sse.accounting.depreciation.documents import DocumentKind, DocumentStatus
from progress_sse.accounting.depreciation.models import (
    Asset,
    DepreciationDocument,
    DepreciationEntry,
)
from progress_sse.accounting.depreciation.periods import Period

# the terms a posted entry was computed from, as (column, label)
TERMS = (
    ("cost", "cost"), ("acquired_on", "acquisition date"), ("method", "method"),
    ("tax_group", "tax group"), ("life_months", "useful life (months)"),
    ("annual_rate", "annual rate"), ("salvage", "salvage"),
)  # fmt: skip


Span = tuple[Period, Period]  # the first and the last month with a posted document


@dataclass(frozen=True, slots=True)
class Stored:
    """An asset as stored, and the last month it has a posted line in (None: none)."""

    terms: dict[str, Any]
    disposed_on: date | None
    through: Period | None


@dataclass(frozen=True, slots=True)
class Warned:
    line: int
    code: str
    message: str


def _value(value: Any) -> Any:
    """What a term is compared as: enums by value, decimals by amount."""
    return getattr(value, "value", value)


def changed_terms(stored: Stored, row: AssetRow) -> list[str]:
    """`label (old → new)` for every term the row would change."""
    changes = []
    for column, label in TERMS:
        old, new = _value(stored.terms[column]), _value(getattr(row, column))
        if old != new:
            changes.append(f"{label} ({_shown(old)} → {_shown(new)})")
    return changes


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _month(day: date | None) -> int | None:
    return None if day is None else Period(day.year, day.month).index


def _touches_posted(old: date | None, new: date | None, last_posted: Period) -> bool:
    """Whether moving a disposal from `old` to `new` changes a month already posted."""
    if old == new:
        return False
    months = [m for m in (_month(old), _month(new)) if m is not None]
    return min(months) < last_posted.index


def refusal(row: AssetRow, stored: Stored, last_posted: Period) -> str | None:
    """Why `row` may not replace an asset with posted lines, or None when it may."""
    through = stored.through
    assert through is not None  # only assets with posted lines are judged here
    changes = changed_terms(stored, row)
    if _touches_posted(stored.disposed_on, row.disposed_on, last_posted):
        changes.append(
            f"disposal date ({_shown(stored.disposed_on)} → {_shown(row.disposed_on)}, "
            f"which changes months posted through {last_posted})"
        )
    if not changes:
        return None
    return (
        f"asset {row.code} has posted depreciation through {through}; "
        f"{'; '.join(changes)} cannot change. Name and category may; "
        "register a correction as a new asset."
    )


def warning(row: AssetRow, stored: Stored | None, posted: Span | None) -> str | None:
    """A note for a row that adds an asset (or moves one without lines) into posted months.

    `posted` is the tenant's first and last posted month; the asset's months
    run from its acquisition to the end of its life or its disposal.
    """
    if posted is None or (
        stored is not None
        and not changed_terms(stored, row)
        and (stored.disposed_on == row.disposed_on)
    ):
        return None
    start = Period(row.acquired_on.year, row.acquired_on.month)
    end = start.index + row.life_months - 1
    if row.disposed_on is not None:
        end = min(end, _month(row.disposed_on) or end)
    first, last = posted
    if start.index > last.index or end < first.index:
        return None
    return (
        f"asset {row.code} is acquired in {start}, but months through {last} are posted "
        "without it; rerun them to include it"
    )


async def posted_span(session: AsyncSession, tenant_id: str) -> Span | None:
    """The tenant's first and last month with a posted document, if any."""
    d = DepreciationDocument
    month = d.year * 12 + d.month - 1
    first, last = (
        await session.execute(
            sa.select(sa.func.min(month), sa.func.max(month)).where(
                d.tenant_id == tenant_id,
                d.kind == DocumentKind.DEPRECIATION,
                d.status == DocumentStatus.POSTED,
            )
        )
    ).one()
    if first is None or last is None:
        return None
    return Period.from_index(int(first)), Period.from_index(int(last))


async def stored_assets(
    session: AsyncSession, tenant_id: str, codes: Sequence[str]
) -> dict[str, Stored]:
    """The assets among `codes` already in the register, with their last posted line."""
    a, e, d = Asset, DepreciationEntry, DepreciationDocument
    posted_line = sa.and_(
        e.asset_id == a.id,
        e.document_id.in_(
            sa.select(d.id).where(
                d.tenant_id == tenant_id,
                d.kind == DocumentKind.DEPRECIATION,
                d.status == DocumentStatus.POSTED,
            )
        ),
    )
    query = (
        sa.select(a.code, a.disposed_on, sa.func.max(e.year * 12 + e.month - 1),
                  *(getattr(a, column) for column, _ in TERMS))
        .outerjoin(e, posted_line)
        .where(a.tenant_id == tenant_id, a.code.in_(codes))
        .group_by(a.id)
    )  # fmt: skip
    names = [column for column, _ in TERMS]
    return {
        code: Stored(
            dict(zip(names, terms, strict=True)),
            disposed,
            None if through is None else Period.from_index(int(through)),
        )
        for code, disposed, through, *terms in await session.execute(query)
    }


async def split_by_history(
    session: AsyncSession, tenant_id: str, rows: Sequence[AssetRow]
) -> tuple[list[AssetRow], list[BadRow], list[Warned]]:
    """The rows that may be upserted, those refused for changing posted history, and notes."""
    stored = await stored_assets(session, tenant_id, [r.code for r in rows])
    posted = await posted_span(session, tenant_id)
    accepted: list[AssetRow] = []
    refused: list[BadRow] = []
    warned: list[Warned] = []
    for row in rows:
        known = stored.get(row.code)
        if known is not None and known.through is not None and posted is not None:
            reason = refusal(row, known, posted[1])
            if reason is not None:
                refused.append(BadRow(row.line, reason, row.code, row.values))
                continue
        elif (note := warning(row, known, posted)) is not None:
            warned.append(Warned(row.line, row.code, note))
        accepted.append(row)
    return accepted, refused, warned
