"""The legacy system being copied (pure): each table's rows, in key order, page by page.

A deterministic stand-in, so the example runs anywhere; a real sync would
read another database or an HTTP API here, page by page, the same way.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class Table(StrEnum):
    CUSTOMERS = "customers"
    PRODUCTS = "products"
    INVOICES = "invoices"
    PAYMENTS = "payments"


# Rows per table at scale 1.
SIZES = {Table.CUSTOMERS: 1_200, Table.PRODUCTS: 300, Table.INVOICES: 5_000, Table.PAYMENTS: 4_000}


def size(table: Table, scale: float) -> int:
    return max(1, round(SIZES[table] * scale))


def page(table: Table, scale: float, after: int, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` rows with keys above `after` (keys run 1..size)."""
    last = min(size(table, scale), after + limit)
    return [row(table, key) for key in range(after + 1, last + 1)]


def row(table: Table, key: int) -> dict[str, Any]:
    """One source row: its key and what the application keeps of it."""
    if table is Table.CUSTOMERS:
        return {"key": key, "name": f"Customer {key:05d}", "city": ("Jakarta", "Bandung")[key % 2]}
    if table is Table.PRODUCTS:
        return {"key": key, "sku": f"SKU-{key:04d}", "price_cents": 1_000 + key * 7 % 9_000}
    if table is Table.INVOICES:
        return {"key": key, "customer": key % 1_200 + 1, "total_cents": key * 131 % 500_000}
    return {"key": key, "invoice": key, "amount_cents": key * 131 % 500_000}
