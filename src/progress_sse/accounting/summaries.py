"""What a completed accounting run did, in words a bookkeeper reads: the sentence the CLI
prints after a watch and the API shows as the run's `summary`. Pure: the result only."""

from __future__ import annotations

from decimal import Decimal
from typing import Any


def money(amount: str | int | Decimal, currency: str | None = None) -> str:
    """`16940908070.85` as `IDR 16,940,908,070.85`: digits grouped, never through a float."""
    grouped = f"{Decimal(str(amount)):,}"
    return f"{currency} {grouped}" if currency else grouped


def counted(counts: dict[str, int]) -> str:
    """`{"disposed": 56, "not_acquired": 52}` as `56 disposed, 52 not acquired`."""
    # by reason: PostgreSQL's jsonb keeps no key order, and the sentence must not depend on it
    words = (f"{n:,} {reason.replace('_', ' ')}" for reason, n in sorted(counts.items()))
    return ", ".join(words) or "none"


def depreciation(result: dict[str, Any]) -> str:
    """A posting (or a preview): entries, document, total, what was skipped, any reversal."""
    skipped = f"Skipped: {counted(result.get('skipped') or {})}."
    total = money(result["total_amount"], result.get("currency"))
    if result.get("dry_run"):
        return (
            f"Preview of {result['period']}: {result['entries']:,} entries, total "
            f"{total}. Nothing was posted. {skipped}"
        )
    text = (
        f"Posted {result['records_processed']:,} entries ({result['document_no']}), total "
        f"{total}. {skipped}"
    )
    if result.get("reverses"):
        text += f" It reverses {result['reverses']} with {result['reversal_no']}."
    return text


def asset_import(result: dict[str, Any]) -> str:
    """Rows imported, rows refused (and where they are), rows that reached posted months."""
    text = f"Imported {result['records_processed']:,} assets."
    if bad := result.get("bad_row_count"):
        text += f" {bad:,} rows were refused: {result['rejected_url']} lists them."
    if warned := len(result.get("warnings") or []):
        text += f" {warned:,} rows change months already posted (see the warnings)."
    return text


def period_lock(result: dict[str, Any]) -> str:
    """`Locked 2026-11.` (or that it already was)."""
    if result.get("already_locked"):
        return f"{result['period']} was already locked."
    return f"Locked {result['period']}."
