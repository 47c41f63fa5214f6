"""Depreciation documents: numbered per month, reversed but never deleted.

A month's posting is one document (`DEP/YYYY/MM/NNNN`) holding its entries.
Rerunning a posted month reverses the earlier document with a reversal
document of its own number, whose entries are the originals negated, and
then posts the new one. Every number is taken inside the run's business
transaction from the month's counter, so a failed or killed run takes
none, and committed numbers count 0001, 0002, ... without gaps or repeats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from progress_sse.accounting.depreciation.models import (
    DepreciationDocument,
    DepreciationEntry,
    DocumentSequence,
)
from progress_sse.accounting.depreciation.periods import Period, series_of
from progress_sse.storage.sql import dialect_insert

DOCUMENTS: sa.Table = DepreciationDocument.__table__  # type: ignore[assignment]
ENTRIES: sa.Table = DepreciationEntry.__table__  # type: ignore[assignment]


class DocumentKind(StrEnum):
    DEPRECIATION = "depreciation"
    REVERSAL = "reversal"


class DocumentStatus(StrEnum):
    POSTED = "posted"
    REVERSED = "reversed"


@dataclass(frozen=True, slots=True)
class Posting:
    """Who posts, from which run, with which parameters: recorded on every document."""

    tenant_id: str
    period: Period
    run_id: str
    created_by: str | None
    params: dict[str, Any]
    at: datetime
    earlier_unposted: str | None = None


@dataclass(frozen=True, slots=True)
class PostedDocument:
    id: int
    document_no: str
    entry_count: int
    total_amount: Decimal
    run_id: str | None
    earlier_unposted: str | None


def too_large(total: Decimal) -> str | None:
    """Why a document cannot hold `total` (its column is NUMERIC(18, 2)), or None."""
    column: Any = DOCUMENTS.c.total_amount.type
    try:
        column.check(total)
    except ValueError:
        return (
            f"The month's total {total:,} is more than a document can hold "
            f"(under 10^{column.precision - column.scale}); a cost this large in the register "
            "is most likely a typing error."
        )
    return None


async def next_number(session: AsyncSession, tenant_id: str, period: Period) -> str:
    """The month's next `DEP/YYYY/MM/NNNN`, moving its counter in this transaction.

    The counter row stays locked until the transaction ends (PostgreSQL row
    lock; SQLite's one writer), so two runs never take the same number.
    """
    series = series_of(period)
    stmt = dialect_insert(session, DocumentSequence).values(
        tenant_id=tenant_id, series=series, last_value=1
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "series"],
        set_={"last_value": DocumentSequence.last_value + 1},
    ).returning(DocumentSequence.last_value)
    number = (await session.execute(stmt)).scalar_one()
    return f"{series}/{number:04d}"


async def posted_document(
    session: AsyncSession, tenant_id: str, period: Period, *, lock: bool
) -> PostedDocument | None:
    """The month's posted depreciation document, if any.

    With `lock` (a posting run) its row stays locked until the transaction
    ends, so two reruns cannot both reverse it; a dry run reads it unlocked.
    """
    doc = DepreciationDocument
    query = sa.select(
        doc.id, doc.document_no, doc.entry_count, doc.total_amount, doc.run_id,
        doc.earlier_unposted,
    ).where(
        doc.tenant_id == tenant_id, doc.year == period.year, doc.month == period.month,
        doc.kind == DocumentKind.DEPRECIATION, doc.status == DocumentStatus.POSTED,
    )  # fmt: skip
    row = (await session.execute(query.with_for_update() if lock else query)).one_or_none()
    return None if row is None else PostedDocument(*row)


@dataclass(frozen=True, slots=True)
class EarlierPosting:
    """A depreciation document this run posted in an attempt that committed."""

    id: int
    document_no: str
    earlier_unposted: str | None
    reversal_no: str | None  # the reversal it posted with it, on a rerun
    reverses: str | None


async def posted_by(session: AsyncSession, run_id: str) -> EarlierPosting | None:
    """What `run_id` posted, whatever has become of it since (reversed by a later rerun)."""
    doc = DepreciationDocument
    row = (
        await session.execute(
            sa.select(doc.id, doc.document_no, doc.earlier_unposted).where(
                doc.run_id == run_id, doc.kind == DocumentKind.DEPRECIATION
            )
        )
    ).one_or_none()
    if row is None:
        return None
    reversal_no, reverses = await reversal_by(session, run_id) or (None, None)
    return EarlierPosting(row[0], row[1], row[2], reversal_no, reverses)


async def reversal_by(session: AsyncSession, run_id: str) -> tuple[str, str] | None:
    """(reversal number, the number it reverses) of the reversal `run_id` posted, if any."""
    reversal, original = DepreciationDocument, aliased(DepreciationDocument)
    query = (
        sa.select(reversal.document_no, original.document_no)
        .join(original, original.id == reversal.reverses_id)
        .where(reversal.run_id == run_id, reversal.kind == DocumentKind.REVERSAL)
    )
    row = (await session.execute(query)).one_or_none()
    return None if row is None else (row[0], row[1])


async def open_document(
    session: AsyncSession, posting: Posting, number: str, kind: DocumentKind, **values: Any
) -> int:
    """Insert a document (its totals follow with `close_document`); returns its id."""
    table = DOCUMENTS
    stmt = sa.insert(table).values(
        tenant_id=posting.tenant_id, document_no=number, year=posting.period.year,
        month=posting.period.month, kind=kind, status=DocumentStatus.POSTED,
        run_id=posting.run_id, created_by=posting.created_by, posted_at=posting.at,
        params=posting.params, entry_count=0, total_amount=Decimal(0),
        earlier_unposted=posting.earlier_unposted if kind is DocumentKind.DEPRECIATION else None,
        **values,
    )  # fmt: skip
    return int((await session.execute(stmt.returning(table.c.id))).scalar_one())


async def close_document(
    session: AsyncSession, document_id: int, entry_count: int, total: Decimal
) -> None:
    table = DOCUMENTS
    await session.execute(
        table.update()
        .where(table.c.id == document_id)
        .values(entry_count=entry_count, total_amount=total)
    )


async def reverse(
    session: AsyncSession, posting: Posting, original: PostedDocument, number: str
) -> int:
    """Post `number` as the reversal of `original` (its entries negated); mark it reversed.

    Each reversal line brings accumulated depreciation and book value back to
    where they stood before the original month.
    """
    table = DOCUMENTS
    await session.execute(
        table.update().where(table.c.id == original.id).values(status=DocumentStatus.REVERSED)
    )
    reversal_id = await open_document(
        session, posting, number, DocumentKind.REVERSAL, reverses_id=original.id
    )
    entries = ENTRIES
    c = entries.c
    lines = sa.select(
        c.tenant_id, sa.literal(reversal_id), c.asset_id, c.year, c.month, -c.amount,
        c.accumulated - c.amount, c.book_value + c.amount, sa.literal(number),
        sa.literal(posting.run_id), sa.literal(posting.at, type_=c.created_at.type),
    ).where(c.document_id == original.id)  # fmt: skip
    columns = [
        "tenant_id", "document_id", "asset_id", "year", "month", "amount", "accumulated",
        "book_value", "document_no", "run_id", "created_at",
    ]  # fmt: skip
    await session.execute(entries.insert().from_select(columns, lines))
    await close_document(session, reversal_id, original.entry_count, -original.total_amount)
    return reversal_id
