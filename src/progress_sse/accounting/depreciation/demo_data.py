"""A realistic demo asset register (pure and seeded, so every demo looks the same).

It covers every method and tax group, and includes assets acquired mid-year,
disposed ones, fully depreciated ones and some not yet acquired.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from typing import Any

from progress_sse.accounting.depreciation.schedule import Method, TaxGroup

CATEGORIES = (
    ("Kendaraan", "Vehicle", TaxGroup.G2),
    ("Komputer", "Laptop", TaxGroup.G1),
    ("Mesin", "Machine", TaxGroup.G3),
    ("Peralatan Berat", "Excavator", TaxGroup.G4),
    ("Gedung", "Office building", TaxGroup.BUILDING_PERMANENT),
    ("Gudang", "Temporary warehouse", TaxGroup.BUILDING_NON_PERMANENT),
    ("Furnitur", "Desk set", None),
)
BUILDINGS = (TaxGroup.BUILDING_PERMANENT, TaxGroup.BUILDING_NON_PERMANENT)


def demo_assets(count: int, *, today: date, seed: int = 2026) -> list[dict[str, Any]]:
    """`count` asset rows (column -> value) for the `assets` table, minus tenant and times."""
    rng = random.Random(seed)
    return [_asset(i, rng, today) for i in range(1, count + 1)]


def _asset(i: int, rng: random.Random, today: date) -> dict[str, Any]:
    category, label, group = CATEGORIES[i % len(CATEGORIES)]
    method = Method.STRAIGHT_LINE if group in BUILDINGS or i % 3 != 0 else Method.DECLINING_BALANCE
    years_back = rng.choice((0, 0, 1, 2, 3, 5, 8, 12, 25))  # some are long fully depreciated
    acquired = date(max(2000, today.year - years_back), rng.randint(1, 12), rng.randint(1, 28))
    if i % 97 == 0:  # a purchase dated next year: not acquired yet
        acquired = date(today.year + 1, rng.randint(1, 12), 1)
    cost = Decimal(rng.randrange(1_500_000, 2_500_000_000, 50_000)).quantize(Decimal("0.01"))
    disposed = None
    if i % 23 == 0 and acquired < today:
        disposed = date(acquired.year + rng.randint(0, 3), rng.randint(1, 12), 15)
        disposed = min(max(disposed, acquired), today)  # disposals are in the past
    return {
        "code": f"AT-{i:06d}",
        "name": f"{label} {i}",
        "category": category,
        "acquired_on": acquired,
        "cost": cost,
        "salvage": Decimal("0.00") if group else (cost / 10).quantize(Decimal("0.01")),
        "life_months": 60 if group is None else None,
        "method": method,
        "annual_rate": Decimal("0.40")
        if group is None and method is Method.DECLINING_BALANCE
        else None,
        "tax_group": group,
        "disposed_on": disposed,
    }
