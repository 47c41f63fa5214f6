"""Reading a month's journal: every document (posted, reversed, reversals) and its lines.

The lines are a function of the register and the postings only (no ids,
times or run ids), so the same register posted the same way gives the same
lines, byte for byte, on SQLite and PostgreSQL. Who posted what, when and
from which run is on the documents.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypedDict

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from progress_sse.accounting.depreciation.models import (
    Asset,
    DepreciationDocument,
    DepreciationEntry,
)
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.runs.events import iso


class JournalLine(TypedDict):
    """One line of a document; its amounts are exact `Decimal` until they are shown."""

    document_no: str
    document_type: str
    document_status: str
    reverses: str | None
    asset_code: str
    asset_name: str
    category: str
    tax_group: str | None
    method: str
    year: int
    month: int
    amount: Decimal
    accumulated: Decimal
    book_value: Decimal


class DocumentRecord(TypedDict):
    """A document as the journal shows it: who posted it, when, from which run, how."""

    document_no: str
    type: str
    status: str
    reverses: str | None
    reversed_by: str | None
    year: int
    month: int
    entries: int
    total_amount: Decimal
    run_id: str | None
    started_by: str | None
    posted_at: str | None
    params: dict[str, Any] | None
    earlier_unposted: str | None


JOURNAL_COLUMNS = tuple(JournalLine.__annotations__)
DOCUMENT_COLUMNS = tuple(DocumentRecord.__annotations__)

_Doc = DepreciationDocument
_Original = aliased(DepreciationDocument)


def _of_month(tenant_id: str, period: Period) -> sa.ColumnElement[bool]:
    return sa.and_(
        _Doc.tenant_id == tenant_id, _Doc.year == period.year, _Doc.month == period.month
    )


async def journal_lines(
    session: AsyncSession, tenant_id: str, period: Period
) -> tuple[list[JournalLine], Decimal]:
    """Every line of the month's documents (by number, then asset code) and their net total."""
    e, a = DepreciationEntry, Asset
    query = (
        sa.select(
            _Doc.document_no, _Doc.kind, _Doc.status, _Original.document_no, a.code, a.name,
            a.category, a.tax_group, a.method, e.year, e.month, e.amount, e.accumulated,
            e.book_value,
        )
        .join(e, e.document_id == _Doc.id)
        .join(a, a.id == e.asset_id)
        .outerjoin(_Original, _Original.id == _Doc.reverses_id)
        .where(_of_month(tenant_id, period))
        .order_by(_Doc.document_no, a.code)
    )  # fmt: skip
    lines = [_line(*tuple(row)) for row in await session.execute(query)]
    return lines, sum((line["amount"] for line in lines), Decimal("0.00"))


def _line(
    number: str, kind: str, status: str, reverses: str | None, code: str, name: str,
    category: str, group: str | None, method: str, year: int, month: int, amount: Decimal,
    accumulated: Decimal, book_value: Decimal,
) -> JournalLine:  # fmt: skip
    return {
        "document_no": number, "document_type": kind, "document_status": status,
        "reverses": reverses, "asset_code": code, "asset_name": name, "category": category,
        "tax_group": group, "method": method, "year": year, "month": month, "amount": amount,
        "accumulated": accumulated, "book_value": book_value,
    }  # fmt: skip


async def documents(session: AsyncSession, tenant_id: str, period: Period) -> list[DocumentRecord]:
    """The month's documents by number, each with who posted it, when, from which run."""
    query = (
        sa.select(_Doc, _Original.document_no)
        .outerjoin(_Original, _Original.id == _Doc.reverses_id)
        .where(_of_month(tenant_id, period))
        .order_by(_Doc.document_no)
    )
    rows = [(doc, reverses) for doc, reverses in await session.execute(query)]
    reversed_by = {doc.reverses_id: doc.document_no for doc, _ in rows if doc.reverses_id}
    return [
        {
            "document_no": doc.document_no, "type": doc.kind, "status": doc.status,
            "reverses": reverses, "reversed_by": reversed_by.get(doc.id),
            "year": doc.year, "month": doc.month, "entries": doc.entry_count,
            "total_amount": doc.total_amount, "run_id": doc.run_id,
            "started_by": doc.created_by, "posted_at": iso(doc.posted_at),
            "params": doc.params, "earlier_unposted": doc.earlier_unposted,
        }
        for doc, reverses in rows
    ]  # fmt: skip
