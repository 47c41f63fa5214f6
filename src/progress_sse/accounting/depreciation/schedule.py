"""The monthly depreciation schedule (pure): one asset, one month, one amount.

Rules from the product issue: money is `Decimal` rounded half-up to cents; a
month's amount is a closed-form function of the asset's terms and the month,
so reruns and out-of-order runs give the same figures. Depreciation starts in
the month of acquisition (month index k = 0, a full month). Straight line
spreads cost - salvage evenly and the last month of the life takes the
rounding remainder. Declining balance fixes each calendar year's monthly
amount at rate x book value at the start of that year / 12, never goes below
salvage and writes off the whole remainder in the last month of the life.
Useful lives and rates of the Indonesian tax groups follow UU PPh Pasal 11 /
PMK 72/2023.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from types import MappingProxyType

CENT = Decimal("0.01")
ONE = Decimal(1)
HUNDRED = Decimal(100)


class Method(StrEnum):
    STRAIGHT_LINE = "straight_line"
    DECLINING_BALANCE = "declining_balance"


class TaxGroup(StrEnum):
    G1 = "1"
    G2 = "2"
    G3 = "3"
    G4 = "4"
    BUILDING_PERMANENT = "building_permanent"
    BUILDING_NON_PERMANENT = "building_non_permanent"


class SkipReason(StrEnum):
    NOT_ACQUIRED = "not_acquired"
    DISPOSED = "disposed"
    FULLY_DEPRECIATED = "fully_depreciated"


@dataclass(frozen=True, slots=True)
class TaxGroupTerms:
    """A tax group's fixed useful life and annual rates; buildings have no declining balance."""

    group: TaxGroup
    life_years: int
    straight_line_rate: Decimal
    declining_balance_rate: Decimal | None

    @property
    def life_months(self) -> int:
        return self.life_years * 12


TAX_GROUPS: Mapping[TaxGroup, TaxGroupTerms] = MappingProxyType(
    {
        t.group: t
        for t in (
            TaxGroupTerms(TaxGroup.G1, 4, Decimal("0.25"), Decimal("0.50")),
            TaxGroupTerms(TaxGroup.G2, 8, Decimal("0.125"), Decimal("0.25")),
            TaxGroupTerms(TaxGroup.G3, 16, Decimal("0.0625"), Decimal("0.125")),
            TaxGroupTerms(TaxGroup.G4, 20, Decimal("0.05"), Decimal("0.10")),
            TaxGroupTerms(TaxGroup.BUILDING_PERMANENT, 20, Decimal("0.05"), None),
            TaxGroupTerms(TaxGroup.BUILDING_NON_PERMANENT, 10, Decimal("0.10"), None),
        )
    }
)


@dataclass(frozen=True, slots=True)
class AssetTerms:
    """What the schedule needs of an asset; checked on construction so every month computes.

    `annual_rate` is used by declining balance only.
    """

    cost: Decimal
    salvage: Decimal
    life_months: int
    method: Method
    annual_rate: Decimal | None
    acquired_on: date
    disposed_on: date | None = None

    def __post_init__(self) -> None:
        check_money(self.cost, self.salvage)
        check_life(self.life_months)
        if self.method == Method.DECLINING_BALANCE:
            if self.annual_rate is None:
                raise ValueError("declining balance needs an annual rate")
            check_rate(self.annual_rate)


class StoredTerms(AssetTerms):
    """Terms read back from the `assets` table, whose CHECK constraints already hold
    what `AssetTerms.__post_init__` checks (NUMERIC(18,2) keeps whole cents): a run
    over 100,000 assets skips 100,000 re-validations."""

    __slots__ = ()

    def __post_init__(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Depreciation:
    """One month's amount; `accumulated` and `book_value` are as at the end of that month."""

    amount: Decimal
    accumulated: Decimal
    book_value: Decimal


@dataclass(frozen=True, slots=True)
class Skipped:
    reason: SkipReason


# Shared instances: they are immutable, and a run over many assets skips most of them.
NOT_ACQUIRED = Skipped(SkipReason.NOT_ACQUIRED)
DISPOSED = Skipped(SkipReason.DISPOSED)
FULLY_DEPRECIATED = Skipped(SkipReason.FULLY_DEPRECIATED)


def round_money(value: Decimal) -> Decimal:
    """Half-up to cents, whatever the ambient decimal context's rounding."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


# -- terms ----------------------------------------------------------------------


def check_money(cost: Decimal | None, salvage: Decimal | None) -> None:
    """Each amount given is whole cents and not negative, and salvage <= cost."""
    if cost is not None:
        _check_amount("cost", cost)
    if salvage is not None:
        _check_amount("salvage value", salvage)
    if cost is not None and salvage is not None and salvage > cost:
        raise ValueError(f"salvage value {salvage} must not exceed the cost {cost}")


def _check_amount(name: str, value: Decimal) -> None:
    # One cheap test for the valid case: this runs for every asset of a run.
    if value.is_finite() and value >= 0 and value == value.quantize(CENT):
        return
    if not value.is_finite():
        raise ValueError(f"{name} must be a number, got {value}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    raise ValueError(f"{name} must be in whole cents, got {value}")


def check_life(life_months: int) -> None:
    if life_months < 1:
        raise ValueError(f"useful life must be at least 1 month, got {life_months}")


def check_rate(annual_rate: Decimal) -> None:
    if not (annual_rate.is_finite() and 0 < annual_rate <= ONE):
        raise ValueError(f"annual rate must be above 0 and at most 1, got {annual_rate}")


def resolve_terms(
    method: Method,
    tax_group: TaxGroup | None,
    life_months: int | None,
    annual_rate: Decimal | None,
    *,
    cost: Decimal | None = None,
    salvage: Decimal | None = None,
) -> tuple[int, Decimal | None]:
    """The effective (life in months, annual rate); a tax group's life and rate win.

    For straight line the rate is informational (the group's straight-line
    rate, or the explicit one); the schedule uses the life. Raises
    `ValueError` with a message fit for the user when the terms do not work.
    """
    check_money(cost, salvage)
    if tax_group is not None:
        return _group_terms(method, TAX_GROUPS[TaxGroup(tax_group)])
    if life_months is None:
        raise ValueError("a useful life (in months) or a tax group is required")
    check_life(life_months)
    if annual_rate is None and method == Method.DECLINING_BALANCE:
        raise ValueError("declining balance needs an annual rate or a tax group")
    if annual_rate is not None:
        check_rate(annual_rate)
    return life_months, annual_rate


def _group_terms(method: Method, terms: TaxGroupTerms) -> tuple[int, Decimal | None]:
    if method == Method.STRAIGHT_LINE:
        return terms.life_months, terms.straight_line_rate
    if terms.declining_balance_rate is None:
        raise ValueError(
            f"tax group {terms.group.value!r} allows straight line only, not declining balance"
        )
    return terms.life_months, terms.declining_balance_rate


# -- schedule -------------------------------------------------------------------


def months_between(start: date, year: int, month: int) -> int:
    """Month index k of (year, month) counted from `start`'s month; the day is irrelevant."""
    return (year - start.year) * 12 + (month - start.month)


def depreciate(asset: AssetTerms, year: int, month: int) -> Depreciation | Skipped:
    """The asset's depreciation for one calendar month, or why there is none.

    Checked in this order: before the acquisition month, after the disposal
    month (the disposal month itself depreciates), past the useful life or
    nothing left to depreciate.
    """
    result = depreciate_cents(asset, year, month)
    if isinstance(result, Skipped):
        return result
    amount, accumulated, book_value = result
    return Depreciation(
        money_from_cents(amount), money_from_cents(accumulated), money_from_cents(book_value)
    )


Cents = tuple[int, int, int]  # amount, accumulated and book value after the month, in cents


def depreciate_cents(asset: AssetTerms, year: int, month: int) -> Cents | Skipped:
    """`depreciate` in whole cents, for callers that post many entries at once."""
    rate, per = (0, 0) if asset.annual_rate is None else asset.annual_rate.as_integer_ratio()
    disposed = asset.disposed_on
    return month_cents(
        _cents(asset.cost), _cents(asset.salvage), asset.life_months,
        asset.method == Method.DECLINING_BALANCE, rate, per, month_index(asset.acquired_on),
        None if disposed is None else month_index(disposed), year * 12 + month - 1,
    )  # fmt: skip


def month_index(day: date) -> int:
    """The month of `day` as `Period.index` counts it (year x 12 + month - 1)."""
    return day.year * 12 + day.month - 1


def month_cents(
    cost: int, salvage: int, life: int, declining: bool, rate: int, per: int, acquired: int,
    disposed: int | None, index: int,
) -> Cents | Skipped:  # fmt: skip
    """`depreciate_cents` on plain integers, as the register query returns them.

    Money in cents, the annual rate as the fraction rate / per (declining
    balance only), months as indices (`month_index`): the acquisition month,
    the disposal month (None: not disposed), and the month to depreciate.
    A run calls this once per asset, so nothing here builds a Decimal or a date.
    Checked in this order: before the acquisition month, after the disposal
    month (the disposal month itself depreciates), past the useful life or
    nothing left to depreciate.
    """
    k = index - acquired
    if k < 0:
        return NOT_ACQUIRED
    if disposed is not None and index > disposed:
        return DISPOSED
    if k >= life:
        return FULLY_DEPRECIATED
    if declining:
        return _declining_balance(cost, salvage, life, rate, per, acquired, k, index)
    return _straight_line(cost, salvage, life, k)


def _straight_line(cost: int, salvage: int, life: int, k: int) -> Cents | Skipped:
    base = cost - salvage
    monthly = (2 * base + life) // (2 * life)  # round_half_up(base / life), in cents
    before = _straight_line_accumulated(base, monthly, life - 1, k - 1)
    if before == base:
        # Reached early when the monthly amount was rounded up over a long life.
        return FULLY_DEPRECIATED
    after = _straight_line_accumulated(base, monthly, life - 1, k)
    return after - before, after, cost - after


def _straight_line_accumulated(base: int, monthly: int, last: int, k: int) -> int:
    """Accumulated after month k: monthly x (k + 1) capped at base, exactly base at the end."""
    if k < 0:
        return 0
    if k >= last:
        return base
    return min(monthly * (k + 1), base)


def _declining_balance(
    cost: int, salvage: int, life: int, rate: int, per: int, acquired: int, k: int, index: int
) -> Cents | Skipped:
    if per == 0:  # AssetTerms refuses a declining balance without a rate; so does the table
        raise ValueError("declining balance needs an annual rate")
    year_start, monthly = _declining_balance_year(rate, per, acquired, cost, salvage, index // 12)
    # Months of this calendar year depreciated before this one (from January, or from the
    # acquisition month in the year of acquisition).
    elapsed = index % 12 - (acquired % 12 if index // 12 == acquired // 12 else 0)
    before = max(year_start - monthly * elapsed, salvage)
    remaining = before - salvage
    if remaining <= 0:
        return FULLY_DEPRECIATED
    # The last month of the life writes off the rest; any other month stops at salvage.
    amount = remaining if k == life - 1 else min(monthly, remaining)
    after = before - amount
    return amount, cost - after, after


def _declining_balance_year(
    rate: int, per: int, acquired: int, cost: int, salvage: int, year: int
) -> tuple[int, int]:
    """Book value at the start of calendar `year` and that year's monthly amount, in cents.

    One step per calendar year, at most life / 12 + 1 of them; once salvage is
    reached nothing is left, so the loop stops there. With the annual rate
    n / d, round_half_up(rate x BV / 12) = (2 n BV + 12 d) // (24 d): exact integers.
    """
    twice, half, divisor = 2 * rate, 12 * per, 24 * per
    book_value = cost
    monthly = (twice * book_value + half) // divisor
    months = 12 - acquired % 12  # the acquisition year's depreciated months
    for _ in range(year - acquired // 12):
        book_value -= monthly * months
        if book_value <= salvage:
            return salvage, 0
        monthly = (twice * book_value + half) // divisor
        months = 12
    return book_value, monthly


# The schedule computes in whole cents as integers: exact, and several times faster than
# Decimal in the declining-balance year loop (a run over 100,000 assets must stay well
# under a second). Decimal appears only at the edges.


def _cents(value: Decimal) -> int:
    """Exact for whole cents (AssetTerms guarantees them) below 10**26 (28 digits of context)."""
    return int(value * HUNDRED)


def money_from_cents(cents: int) -> Decimal:
    """Cents as a Decimal with exactly two places (the form every amount is shown in)."""
    return Decimal(cents) * CENT
