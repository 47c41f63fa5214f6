"""An independent reading of the depreciation rules, month by month in Decimal (tests only).

It shares no code with `progress_sse.accounting.depreciation.schedule`: the rules
are written again from the tax rules themselves (PMK 96/PMK.03/2009 with the
group table of PMK 72/2023, as docs/accounting.md states them), the slow and
obvious way, so the closed form and the stored journal can both be checked
against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
# tax group -> (useful life in years, straight-line rate, declining-balance rate)
GROUPS: dict[str, tuple[int, Decimal, Decimal | None]] = {
    "1": (4, Decimal("0.25"), Decimal("0.50")),
    "2": (8, Decimal("0.125"), Decimal("0.25")),
    "3": (16, Decimal("0.0625"), Decimal("0.125")),
    "4": (20, Decimal("0.05"), Decimal("0.10")),
    "building_permanent": (20, Decimal("0.05"), None),
    "building_non_permanent": (10, Decimal("0.10"), None),
}


@dataclass(frozen=True)
class Terms:
    cost: Decimal
    salvage: Decimal
    life_months: int
    method: str  # straight_line | declining_balance
    rate: Decimal | None
    acquired_on: date
    disposed_on: date | None = None


@dataclass(frozen=True)
class Line:
    amount: Decimal
    accumulated: Decimal
    book_value: Decimal


def half_up(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def month_of(start: date, k: int) -> tuple[int, int]:
    years, month0 = divmod(start.month - 1 + k, 12)
    return start.year + years, month0 + 1


def whole_life(terms: Terms) -> list[Line | None]:
    """Month k of the life (k = 0: the acquisition month, a full month): its line, or None."""
    base, life = terms.cost - terms.salvage, terms.life_months
    accumulated, monthly, lines = Decimal("0.00"), half_up(base / life), []
    for k in range(life):
        if terms.method == "declining_balance" and (
            k == 0 or month_of(terms.acquired_on, k)[1] == 1
        ):
            monthly = half_up((terms.rate or Decimal(0)) * (terms.cost - accumulated) / 12)
        remaining = base - accumulated
        if remaining == 0:
            lines.append(None)
            continue
        amount = remaining if k == life - 1 else min(monthly, remaining)
        accumulated += amount
        lines.append(Line(amount, accumulated, terms.cost - accumulated))
    return lines


def line_for(terms: Terms, year: int, month: int) -> Line | None:
    """The asset's line in (year, month): none before acquisition, after disposal or the life."""
    k = (year - terms.acquired_on.year) * 12 + month - terms.acquired_on.month
    disposed = terms.disposed_on
    if k < 0 or k >= terms.life_months:
        return None
    if disposed is not None and (year, month) > (disposed.year, disposed.month):
        return None
    return whole_life(terms)[k]
