"""The depreciation schedule: the product issue's rules as hand-worked examples.

Month index k counts months since the acquisition month (k = 0 is the
acquisition month and gets a full month). Amounts are Decimal, half-up to cents.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from progress_sse.accounting.depreciation.schedule import (
    TAX_GROUPS,
    AssetTerms,
    Depreciation,
    Method,
    Skipped,
    SkipReason,
    TaxGroup,
    depreciate,
    months_between,
    resolve_terms,
    round_money,
)

SL = Method.STRAIGHT_LINE
DB = Method.DECLINING_BALANCE


def D(value: str) -> Decimal:
    return Decimal(value)


def asset(
    cost: str = "12000.00",
    salvage: str = "0.00",
    life: int = 48,
    method: Method = SL,
    rate: str | None = None,
    acquired: date = date(2024, 1, 1),
    disposed: date | None = None,
) -> AssetTerms:
    return AssetTerms(
        cost=D(cost),
        salvage=D(salvage),
        life_months=life,
        method=method,
        annual_rate=None if rate is None else D(rate),
        acquired_on=acquired,
        disposed_on=disposed,
    )


def month_at(start: date, k: int) -> tuple[int, int]:
    """(year, month) of month index k."""
    years, month0 = divmod(start.month - 1 + k, 12)
    return start.year + years, month0 + 1


def dep(amount: str, accumulated: str, book_value: str) -> Depreciation:
    return Depreciation(D(amount), D(accumulated), D(book_value))


def life_schedule(terms: AssetTerms) -> list[Depreciation | Skipped]:
    return [depreciate(terms, *month_at(terms.acquired_on, k)) for k in range(terms.life_months)]


NOT_ACQUIRED = Skipped(SkipReason.NOT_ACQUIRED)
DISPOSED = Skipped(SkipReason.DISPOSED)
FULLY = Skipped(SkipReason.FULLY_DEPRECIATED)


# -- money and months -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.005", "0.01"),  # half goes up (half-even would give 0.00)
        ("2.675", "2.68"),
        ("54.685", "54.69"),  # half-even would give 54.68
        ("0.0049", "0.00"),
        ("7", "7.00"),
        ("-0.005", "-0.01"),  # half away from zero
    ],
)
def test_round_money_is_half_up_to_cents(value: str, expected: str) -> None:
    assert str(round_money(D(value))) == expected


@pytest.mark.parametrize(
    ("start", "year", "month", "k"),
    [
        (date(2024, 10, 15), 2024, 10, 0),  # the acquisition month itself
        (date(2024, 1, 31), 2024, 2, 1),  # the day of the month plays no part
        (date(2024, 10, 15), 2025, 1, 3),  # Oct -> Jan across a year
        (date(2024, 10, 15), 2024, 9, -1),  # before acquisition
        (date(2024, 2, 29), 2024, 3, 1),  # leap day -> March
        (date(2024, 2, 29), 2025, 2, 12),  # a year later, Feb 2025 has no 29th
        (date(2024, 2, 29), 2028, 2, 48),
        (date(2023, 12, 31), 2024, 1, 1),
    ],
)
def test_months_between_counts_calendar_months(start: date, year: int, month: int, k: int) -> None:
    assert months_between(start, year, month) == k


# -- straight line ----------------------------------------------------------------


def test_straight_line_last_month_takes_the_rounding_remainder() -> None:
    # base 1000.00 / 3 = 333.333... -> 333.33; last month 1000.00 - 2 x 333.33 = 333.34
    terms = asset(cost="1000.00", life=3, acquired=date(2024, 1, 20))
    assert depreciate(terms, 2024, 1) == dep("333.33", "333.33", "666.67")
    assert depreciate(terms, 2024, 2) == dep("333.33", "666.66", "333.34")
    assert depreciate(terms, 2024, 3) == dep("333.34", "1000.00", "0.00")
    assert depreciate(terms, 2024, 4) == FULLY


def test_straight_line_regular_months_from_the_acquisition_month() -> None:
    # 12,000.00 / 48 = 250.00; acquired on the 31st, October still gets a full month
    terms = asset(cost="12000.00", life=48, acquired=date(2024, 10, 31))
    assert depreciate(terms, 2024, 10) == dep("250.00", "250.00", "11750.00")
    # Nov 2025 is k = 13: accumulated 14 x 250.00 = 3,500.00
    assert depreciate(terms, 2025, 11) == dep("250.00", "3500.00", "8500.00")
    # Sep 2028 is k = 47, the last month: 250.00 divides evenly, nothing left over
    assert depreciate(terms, 2028, 9) == dep("250.00", "12000.00", "0.00")


def test_straight_line_with_salvage() -> None:
    # base 10,000.00 - 1,000.00 = 9,000.00; / 7 = 1,285.714... -> 1,285.71
    # last month: 9,000.00 - 6 x 1,285.71 (7,714.26) = 1,285.74; book value ends at salvage
    terms = asset(cost="10000.00", salvage="1000.00", life=7, acquired=date(2024, 3, 1))
    assert depreciate(terms, 2024, 3) == dep("1285.71", "1285.71", "8714.29")
    assert depreciate(terms, 2024, 8) == dep("1285.71", "7714.26", "2285.74")
    assert depreciate(terms, 2024, 9) == dep("1285.74", "9000.00", "1000.00")


def test_long_life_rounding_up_reaches_the_base_early() -> None:
    # base 10.00 / 400 = 0.025 -> 0.03 (half-up); 0.03 x 333 = 9.99 after k = 332,
    # k = 333 is capped: min(0.03 x 334 = 10.02, 10.00) - 9.99 = 0.01, then nothing is left
    terms = asset(cost="10.00", life=400, acquired=date(2000, 1, 1))
    assert depreciate(terms, 2000, 1) == dep("0.03", "0.03", "9.97")
    assert depreciate(terms, *month_at(terms.acquired_on, 332)) == dep("0.03", "9.99", "0.01")
    assert depreciate(terms, *month_at(terms.acquired_on, 333)) == dep("0.01", "10.00", "0.00")
    assert depreciate(terms, *month_at(terms.acquired_on, 334)) == FULLY
    assert depreciate(terms, *month_at(terms.acquired_on, 399)) == FULLY  # the last month too


def test_monthly_amount_rounding_to_zero_leaves_it_all_to_the_last_month() -> None:
    # base 0.05 / 12 = 0.0041... -> 0.00: zero months are not "fully depreciated",
    # the base is not reached; the last month takes the whole 0.05
    terms = asset(cost="0.05", life=12, acquired=date(2024, 1, 1))
    assert depreciate(terms, 2024, 1) == dep("0.00", "0.00", "0.05")
    assert depreciate(terms, 2024, 12) == dep("0.05", "0.05", "0.00")


@pytest.mark.parametrize(
    ("cost", "salvage", "life"),
    [
        ("1000.00", "0.00", 3),
        ("999.99", "123.45", 13),
        ("100.00", "0.01", 7),
        ("12345.67", "0.00", 47),
        ("0.05", "0.00", 12),
        ("10.00", "0.00", 400),
        ("7.00", "0.00", 1),
    ],
)
def test_straight_line_totals_exactly_cost_minus_salvage(
    cost: str, salvage: str, life: int
) -> None:
    terms = asset(cost=cost, salvage=salvage, life=life, acquired=date(2023, 7, 9))
    entries = [e for e in life_schedule(terms) if isinstance(e, Depreciation)]
    assert sum(e.amount for e in entries) == D(cost) - D(salvage)
    assert entries[-1].book_value == D(salvage)


# -- declining balance ------------------------------------------------------------

MID_YEAR = asset(cost="12000.00", life=48, method=DB, rate="0.50", acquired=date(2024, 10, 15))


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        # 2024: 0.50 x 12,000.00 / 12 = 500.00 for Oct, Nov, Dec (13 - 10 = 3 months)
        (2024, 10, dep("500.00", "500.00", "11500.00")),
        (2024, 12, dep("500.00", "1500.00", "10500.00")),
        # 2025: BV start 12,000.00 - 3 x 500.00 = 10,500.00; x 0.50 / 12 = 437.50
        (2025, 1, dep("437.50", "1937.50", "10062.50")),
        (2025, 12, dep("437.50", "6750.00", "5250.00")),
        # 2026: BV start 10,500.00 - 12 x 437.50 = 5,250.00; x 0.50 / 12 = 218.75
        (2026, 1, dep("218.75", "6968.75", "5031.25")),
        # 2027: BV start 5,250.00 - 12 x 218.75 = 2,625.00; x 0.50 / 12 = 109.375 -> 109.38
        (2027, 1, dep("109.38", "9484.38", "2515.62")),
        # 2028: BV start 2,625.00 - 12 x 109.38 = 1,312.44; x 0.50 / 12 = 54.685 -> 54.69
        (2028, 1, dep("54.69", "10742.25", "1257.75")),
        # Aug 2028 (k = 46): BV 1,312.44 - 8 x 54.69 = 874.92
        (2028, 8, dep("54.69", "11125.08", "874.92")),
        # Sep 2028 (k = 47 = life - 1): the whole remaining 874.92 at once
        (2028, 9, dep("874.92", "12000.00", "0.00")),
        (2028, 10, FULLY),
    ],
)
def test_declining_balance_mid_year_acquisition(
    year: int, month: int, expected: Depreciation | Skipped
) -> None:
    assert depreciate(MID_YEAR, year, month) == expected


def test_declining_balance_never_goes_below_salvage() -> None:
    # 0.50 x 1,000.00 / 12 = 41.666... -> 41.67; BV 958.33, 916.66, then only 16.66 is left
    terms = asset(cost="1000.00", salvage="900.00", method=DB, rate="0.50")
    assert depreciate(terms, 2024, 1) == dep("41.67", "41.67", "958.33")
    assert depreciate(terms, 2024, 2) == dep("41.67", "83.34", "916.66")
    assert depreciate(terms, 2024, 3) == dep("16.66", "100.00", "900.00")
    assert depreciate(terms, 2024, 4) == FULLY
    assert depreciate(terms, 2025, 1) == FULLY


def test_declining_balance_salvage_floor_in_a_later_year() -> None:
    # 2024 (Nov, Dec): 0.50 x 1,200.00 / 12 = 50.00 -> BV start 2025 = 1,100.00
    # 2025: 0.50 x 1,100.00 / 12 = 45.833... -> 45.83; after Aug BV = 1,100.00 - 8 x 45.83
    # = 733.36, so September takes 33.36 and reaches salvage 700.00
    terms = asset(
        cost="1200.00", salvage="700.00", method=DB, rate="0.50", acquired=date(2024, 11, 5)
    )
    assert depreciate(terms, 2025, 1) == dep("45.83", "145.83", "1054.17")
    assert depreciate(terms, 2025, 8) == dep("45.83", "466.64", "733.36")
    assert depreciate(terms, 2025, 9) == dep("33.36", "500.00", "700.00")
    assert depreciate(terms, 2025, 10) == FULLY
    assert depreciate(terms, 2026, 1) == FULLY  # 1,100.00 - 12 x 45.83 < 700.00: floored


def test_declining_balance_last_month_writes_off_the_rest_above_salvage() -> None:
    # life 3, rate 0.10: 0.10 x 1,200.00 / 12 = 10.00 a month; month 3 takes 1,180.00 - 100.00
    terms = asset(cost="1200.00", salvage="100.00", life=3, method=DB, rate="0.10")
    assert depreciate(terms, 2024, 2) == dep("10.00", "20.00", "1180.00")
    assert depreciate(terms, 2024, 3) == dep("1080.00", "1100.00", "100.00")
    assert depreciate(terms, 2024, 4) == FULLY


def test_rate_one_acquired_in_january_is_done_in_the_first_year() -> None:
    # 1.00 x 100.00 / 12 = 8.333... -> 8.33; 11 x 8.33 = 91.63, the 12th month would
    # take 8.33 of the remaining 8.37 -- then 2025 starts at 0.04 with 0.00 a month
    terms = asset(cost="100.00", life=24, method=DB, rate="1")
    assert depreciate(terms, 2024, 12) == dep("8.33", "99.96", "0.04")
    assert depreciate(terms, 2025, 1) == dep("0.00", "99.96", "0.04")
    assert depreciate(terms, 2025, 12) == dep("0.04", "100.00", "0.00")


# -- tax groups ---------------------------------------------------------------------

GROUPS = [
    (TaxGroup.G1, 48, "0.25", "0.50"),
    (TaxGroup.G2, 96, "0.125", "0.25"),
    (TaxGroup.G3, 192, "0.0625", "0.125"),
    (TaxGroup.G4, 240, "0.05", "0.10"),
    (TaxGroup.BUILDING_PERMANENT, 240, "0.05", None),
    (TaxGroup.BUILDING_NON_PERMANENT, 120, "0.10", None),
]


@pytest.mark.parametrize(("group", "life", "sl_rate", "db_rate"), GROUPS)
def test_tax_group_table(group: TaxGroup, life: int, sl_rate: str, db_rate: str | None) -> None:
    terms = TAX_GROUPS[group]
    assert terms.life_months == life
    assert terms.straight_line_rate == D(sl_rate)
    assert terms.declining_balance_rate == (None if db_rate is None else D(db_rate))
    assert terms.straight_line_rate * terms.life_years == 1  # straight line spreads the life


@pytest.mark.parametrize(("group", "life", "sl_rate", "db_rate"), GROUPS)
def test_a_tax_group_fixes_life_and_rate_over_explicit_values(
    group: TaxGroup, life: int, sl_rate: str, db_rate: str | None
) -> None:
    assert resolve_terms(SL, group, 12, D("0.90")) == (life, D(sl_rate))
    if db_rate is None:
        with pytest.raises(ValueError, match="straight line only"):
            resolve_terms(DB, group, None, None)
    else:
        assert resolve_terms(DB, group, 12, D("0.90")) == (life, D(db_rate))


def test_tax_group_given_as_its_stored_string() -> None:
    assert resolve_terms(DB, TaxGroup("3"), None, None) == (192, D("0.125"))


@pytest.mark.parametrize(
    ("method", "life", "rate", "expected"),
    [
        (SL, 60, None, (60, None)),
        (SL, 1, None, (1, None)),
        (DB, 60, "0.40", (60, D("0.40"))),
        (DB, 60, "1", (60, D("1"))),
    ],
)
def test_explicit_terms_without_a_group(
    method: Method, life: int, rate: str | None, expected: tuple[int, Decimal | None]
) -> None:
    assert resolve_terms(method, None, life, None if rate is None else D(rate)) == expected


@pytest.mark.parametrize(
    ("method", "life", "rate", "money", "message"),
    [
        (DB, 60, None, {}, "annual rate or a tax group"),
        (SL, None, None, {}, "useful life"),
        (SL, 0, None, {}, "at least 1 month"),
        (DB, 60, "0", {}, "above 0 and at most 1"),
        (DB, 60, "1.5", {}, "above 0 and at most 1"),
        (DB, 60, "-0.1", {}, "above 0 and at most 1"),
        (SL, 60, None, {"cost": "-1.00"}, "cost must not be negative"),
        (SL, 60, None, {"cost": "10.00", "salvage": "10.01"}, "must not exceed the cost"),
        (SL, 60, None, {"salvage": "-0.01"}, "salvage value must not be negative"),
        (SL, 60, None, {"cost": "10.001"}, "whole cents"),
    ],
)
def test_resolve_terms_refuses_unworkable_terms(
    method: Method, life: int | None, rate: str | None, money: dict[str, str], message: str
) -> None:
    amounts = {name: D(value) for name, value in money.items()}
    with pytest.raises(ValueError, match=message):
        resolve_terms(method, None, life, None if rate is None else D(rate), **amounts)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"method": DB}, "needs an annual rate"),
        ({"method": DB, "rate": "0"}, "above 0"),
        ({"life": 0}, "at least 1 month"),
        ({"cost": "10.00", "salvage": "20.00"}, "must not exceed"),
        ({"cost": "-5.00"}, "must not be negative"),
        ({"cost": "NaN"}, "must be a number"),
    ],
)
def test_asset_terms_refuse_what_the_schedule_cannot_compute(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        asset(**overrides)  # type: ignore[arg-type]


# -- leap years ---------------------------------------------------------------------


def test_acquired_on_a_leap_day() -> None:
    # straight line 1,200.00 / 12 = 100.00: Feb 2024 (k = 0) .. Jan 2025 (k = 11)
    terms = asset(cost="1200.00", life=12, acquired=date(2024, 2, 29))
    assert depreciate(terms, 2024, 1) == NOT_ACQUIRED
    assert depreciate(terms, 2024, 2) == dep("100.00", "100.00", "1100.00")
    assert depreciate(terms, 2024, 3) == dep("100.00", "200.00", "1000.00")
    assert depreciate(terms, 2025, 1) == dep("100.00", "1200.00", "0.00")
    assert depreciate(terms, 2025, 2) == FULLY


def test_declining_balance_acquired_on_a_leap_day() -> None:
    # 2024: Feb..Dec = 13 - 2 = 11 months x 500.00 = 5,500.00 -> BV start 2025 = 6,500.00
    # 2025: 0.50 x 6,500.00 / 12 = 270.833... -> 270.83
    terms = asset(cost="12000.00", method=DB, rate="0.50", acquired=date(2024, 2, 29))
    assert depreciate(terms, 2024, 12) == dep("500.00", "5500.00", "6500.00")
    assert depreciate(terms, 2025, 1) == dep("270.83", "5770.83", "6229.17")


# -- acquisition, disposal, end of life ---------------------------------------------


@pytest.mark.parametrize("method", [SL, DB])
def test_nothing_before_the_acquisition_month(method: Method) -> None:
    terms = asset(method=method, rate="0.50", acquired=date(2024, 10, 15))
    assert depreciate(terms, 2024, 9) == NOT_ACQUIRED
    assert depreciate(terms, 2023, 12) == NOT_ACQUIRED
    assert isinstance(depreciate(terms, 2024, 10), Depreciation)


@pytest.mark.parametrize("method", [SL, DB])
def test_the_disposal_month_depreciates_and_the_next_does_not(method: Method) -> None:
    # 12,000.00 over 48 months: 250.00; declining 0.50: 500.00 -- June 2024 is k = 5
    terms = asset(method=method, rate="0.50", disposed=date(2024, 6, 3))
    expected = {SL: dep("250.00", "1500.00", "10500.00"), DB: dep("500.00", "3000.00", "9000.00")}
    assert depreciate(terms, 2024, 6) == expected[method]
    assert depreciate(terms, 2024, 7) == DISPOSED
    # disposed wins over fully depreciated: the asset has left the register
    assert depreciate(terms, 2030, 1) == DISPOSED


def test_disposed_in_the_acquisition_month() -> None:
    terms = asset(cost="1200.00", life=12, acquired=date(2024, 5, 2), disposed=date(2024, 5, 30))
    assert depreciate(terms, 2024, 5) == dep("100.00", "100.00", "1100.00")
    assert depreciate(terms, 2024, 6) == DISPOSED


@pytest.mark.parametrize("method", [SL, DB])
def test_nothing_after_the_useful_life(method: Method) -> None:
    terms = asset(life=3, method=method, rate="0.50", acquired=date(2024, 1, 15))
    assert isinstance(depreciate(terms, 2024, 3), Depreciation)
    assert depreciate(terms, 2024, 4) == FULLY
    assert depreciate(terms, 2040, 1) == FULLY


@pytest.mark.parametrize("method", [SL, DB])
def test_nothing_when_cost_equals_salvage(method: Method) -> None:
    terms = asset(cost="500.00", salvage="500.00", method=method, rate="0.50")
    assert depreciate(terms, 2024, 1) == FULLY


# -- whole schedules ----------------------------------------------------------------

SCHEDULES = [
    asset(cost="1000.00", life=3),
    asset(cost="999.99", salvage="123.45", life=13, acquired=date(2023, 11, 30)),
    asset(cost="10.00", life=400, acquired=date(2000, 1, 1)),
    MID_YEAR,
    asset("98765.43", "1234.56", 240, DB, "0.10", acquired=date(2010, 7, 1)),
    asset(cost="1200.00", salvage="700.00", method=DB, rate="0.50", acquired=date(2024, 11, 5)),
    asset(cost="100.00", life=24, method=DB, rate="1"),
    asset(cost="12000.00", method=DB, rate="0.50", acquired=date(2024, 2, 29)),
    asset(cost="3333.33", life=7, method=DB, rate="0.333333", acquired=date(2024, 12, 1)),
]


def reference(terms: AssetTerms) -> list[Depreciation | Skipped]:
    """The issue's rules month by month, in Decimal: what the closed form must match."""
    rate = terms.annual_rate or D("0")
    base, life = terms.cost - terms.salvage, terms.life_months
    accumulated, monthly, results = D("0.00"), round_money(base / life), []
    for k in range(life):
        if terms.method == DB and (k == 0 or month_at(terms.acquired_on, k)[1] == 1):
            monthly = round_money(rate * (terms.cost - accumulated) / 12)  # BV at year start
        remaining = base - accumulated
        amount = remaining if k == life - 1 else min(monthly, remaining)
        if remaining == 0:
            results.append(FULLY)
            continue
        accumulated += amount
        results.append(Depreciation(amount, accumulated, terms.cost - accumulated))
    return results


@pytest.mark.parametrize("terms", SCHEDULES)
def test_closed_form_matches_the_month_by_month_rules(terms: AssetTerms) -> None:
    assert life_schedule(terms) == reference(terms)


@pytest.mark.parametrize("terms", SCHEDULES)
def test_a_whole_life_depreciates_exactly_down_to_salvage(terms: AssetTerms) -> None:
    entries = [e for e in life_schedule(terms) if isinstance(e, Depreciation)]
    assert sum(e.amount for e in entries) == terms.cost - terms.salvage
    assert entries[-1].book_value == terms.salvage


@pytest.mark.parametrize("terms", SCHEDULES)
def test_accumulated_and_book_value_agree_with_the_amounts(terms: AssetTerms) -> None:
    accumulated = D("0.00")
    for entry in life_schedule(terms):
        if isinstance(entry, Skipped):
            assert entry == FULLY
            continue
        assert entry.amount >= 0
        assert entry.accumulated - accumulated == entry.amount
        assert entry.book_value == terms.cost - entry.accumulated
        for value in (entry.amount, entry.accumulated, entry.book_value):
            assert value.as_tuple().exponent == -2  # cents, always
        accumulated = entry.accumulated


@pytest.mark.parametrize("terms", SCHEDULES)
def test_order_of_computation_does_not_matter(terms: AssetTerms) -> None:
    months = [month_at(terms.acquired_on, k) for k in range(terms.life_months + 2)]
    forward = [depreciate(terms, *m) for m in months]
    backward = [depreciate(terms, *m) for m in reversed(months)][::-1]
    assert forward == backward
    # month 7 before month 3, and again: the same figures every time
    seventh, third = months[min(7, len(months) - 1)], months[3]
    assert depreciate(terms, *seventh) == forward[months.index(seventh)]
    assert depreciate(terms, *third) == forward[3]
    assert depreciate(terms, *seventh) == forward[months.index(seventh)]
