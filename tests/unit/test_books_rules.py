"""The pure rules behind the books: months in order, totals, what a re-import may change."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from progress_sse.accounting.asset_import.history import Stored, changed_terms, refusal, warning
from progress_sse.accounting.asset_import.parse import AssetRow
from progress_sse.accounting.depreciation.ordering import candidate_months, first_depreciating
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.accounting.depreciation.schedule import (
    AssetTerms,
    Method,
    Skipped,
    TaxGroup,
    depreciate_cents,
)
from progress_sse.accounting.depreciation.tally import Tally

JAN_2026 = Period(2026, 1).index


def months(*pairs: tuple[int, int]) -> list[int]:
    return [Period(y, m).index for y, m in pairs]


# -- periods ------------------------------------------------------------------------------


@given(st.integers(min_value=2000 * 12, max_value=2100 * 12 + 11))
def test_a_month_index_round_trips_and_consecutive_months_are_consecutive(index: int) -> None:
    period = Period.from_index(index)
    assert period.index == index and 1 <= period.month <= 12
    following = Period.from_index(index + 1)
    assert (following.year, following.month) == (
        (period.year + 1, 1) if period.month == 12 else (period.year, period.month + 1)
    )


# -- months in order ------------------------------------------------------------------------


def test_candidates_are_the_unposted_covered_months_before_the_target_in_order() -> None:
    # One asset depreciable from 2025-11 to 2026-04; 2025-12 is posted; the target is 2026-03.
    intervals = [(Period(2025, 11).index, Period(2026, 4).index)]
    posted = set(months((2025, 12)))
    found = list(candidate_months(Period(2026, 3).index, posted, None, intervals))
    assert found == months((2025, 11), (2026, 1), (2026, 2))


def test_months_covered_by_no_interval_are_never_candidates() -> None:
    intervals = [(Period(2024, 1).index,) * 2, (JAN_2026, JAN_2026 + 24)]
    found = list(candidate_months(JAN_2026 + 3, set(), None, intervals))
    assert found == months((2024, 1), (2026, 1), (2026, 2), (2026, 3))


def test_a_floor_from_an_allowed_posting_hides_every_earlier_gap() -> None:
    intervals = [(Period(2020, 1).index, Period(2030, 1).index)]
    floor = Period(2026, 1).index  # posted with allow_earlier_unposted
    found = list(candidate_months(Period(2026, 4).index, {floor}, floor, intervals))
    assert found == months((2026, 2), (2026, 3))


@given(
    target=st.integers(0, 60),
    posted=st.sets(st.integers(0, 60)),
    floor=st.none() | st.integers(0, 60),
    intervals=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 30)), max_size=6),
)
def test_candidates_match_the_definition_month_by_month(
    target: int, posted: set[int], floor: int | None, intervals: list[tuple[int, int]]
) -> None:
    spans = [(first, first + length) for first, length in intervals]
    expected = [
        m for m in range(target)
        if m not in posted and (floor is None or m > floor)
        and any(first <= m <= last for first, last in spans)
    ]  # fmt: skip
    assert list(candidate_months(target, posted, floor, spans)) == expected


# -- totals ---------------------------------------------------------------------------------


def test_the_tally_totals_per_group_and_method_in_exact_decimal_text() -> None:
    tally = Tally()
    tally.add("1", "straight_line", 2500)
    tally.add(None, "declining_balance", 10_001)
    tally.add("1", "declining_balance", 1)
    for asset_id in range(25):
        tally.skip("fully_depreciated", asset_id)
    totals = tally.totals()
    assert totals["entries"] == 3 and totals["total_amount"] == "125.02"
    assert totals["totals_by_tax_group"] == {
        "1": {"entries": 2, "amount": "25.01"}, "none": {"entries": 1, "amount": "100.01"},
    }  # fmt: skip
    assert totals["totals_by_method"]["declining_balance"] == {"entries": 2, "amount": "100.02"}
    assert totals["skipped"] == {"fully_depreciated": 25}
    assert len(tally.skipped_ids["fully_depreciated"]) == 20, "a few examples, not all"


# -- what a re-import may change --------------------------------------------------------------


def row(**changes: object) -> AssetRow:
    base: dict[str, object] = {
        "line": 7, "code": "AT-001", "name": "Truck", "category": "Vehicles",
        "acquired_on": date(2026, 1, 10), "cost": Decimal("1200.00"), "salvage": Decimal("0"),
        "life_months": 96, "method": Method.STRAIGHT_LINE, "annual_rate": Decimal("0.125"),
        "tax_group": TaxGroup.G2, "disposed_on": None,
    }  # fmt: skip
    return AssetRow(**(base | changes))  # type: ignore[arg-type]


POSTED = Stored(
    terms={
        "cost": Decimal("1200.00"), "acquired_on": date(2026, 1, 10), "method": "straight_line",
        "tax_group": "2", "life_months": 96, "annual_rate": Decimal("0.125000"),
        "salvage": Decimal("0.00"),
    },
    disposed_on=None,
    through=Period(2026, 2),
)  # fmt: skip


def test_the_same_terms_written_differently_are_no_change() -> None:
    assert changed_terms(POSTED, row(name="Truck, blue", category="Fleet")) == []
    assert refusal(row(name="Renamed"), POSTED, LAST) is None


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        ({"cost": Decimal("1300.00")}, "cost (1200.00 → 1300.00)"),
        ({"acquired_on": date(2025, 12, 1)}, "acquisition date (2026-01-10 → 2025-12-01)"),
        ({"method": Method.DECLINING_BALANCE}, "method (straight_line → declining_balance)"),
        ({"tax_group": TaxGroup.G3}, "tax group (2 → 3)"),
        ({"tax_group": None}, "tax group (2 → none)"),
        ({"life_months": 60}, "useful life (months) (96 → 60)"),
        ({"annual_rate": Decimal("0.25")}, "annual rate (0.125000 → 0.25)"),
        ({"salvage": Decimal("10.00")}, "salvage (0.00 → 10.00)"),
    ],
)
def test_each_term_of_posted_entries_is_refused_by_name(
    change: dict[str, object], shown: str
) -> None:
    reason = refusal(row(**change), POSTED, LAST)
    assert reason is not None
    assert reason.startswith("asset AT-001 has posted depreciation through 2026-02; ")
    assert shown in reason


LAST = Period(2026, 6)  # the tenant's last posted month; the asset's last line is 2026-02


@pytest.mark.parametrize(
    ("disposed", "refused"),
    [
        (date(2026, 1, 31), True),  # takes away a posted line
        (date(2026, 4, 30), True),  # April to June were posted with the asset in them
        (date(2026, 6, 15), False),  # the last posted month still has its line
        (date(2026, 9, 1), False),  # only months not posted yet
    ],
)
def test_a_disposal_may_change_only_months_not_yet_posted(disposed: date, refused: bool) -> None:
    reason = refusal(row(disposed_on=disposed), POSTED, LAST)
    assert (reason is not None) == refused
    if reason:
        assert f"disposal date (none → {disposed}" in reason and "through 2026-06" in reason


def test_undoing_a_disposal_is_refused_when_posted_months_lacked_the_asset() -> None:
    disposed = Stored(POSTED.terms, date(2026, 2, 10), Period(2026, 2))
    reason = refusal(row(disposed_on=None), disposed, LAST)
    assert reason is not None and "disposal date (2026-02-10 → none" in reason
    assert refusal(row(disposed_on=date(2026, 2, 10)), disposed, LAST) is None


SPAN = (Period(2026, 1), LAST)  # the tenant's first and last posted months


def test_a_new_asset_in_posted_months_is_accepted_with_a_warning() -> None:
    note = warning(row(acquired_on=date(2026, 3, 5)), None, SPAN)
    assert note == (
        "asset AT-001 is acquired in 2026-03, but months through 2026-06 are posted "
        "without it; rerun them to include it"
    )
    assert warning(row(acquired_on=date(2026, 7, 1)), None, SPAN) is None
    assert warning(row(acquired_on=date(2026, 3, 5)), None, None) is None, "nothing posted"
    unchanged = Stored({**POSTED.terms, "acquired_on": date(2026, 3, 5)}, None, None)
    assert warning(row(acquired_on=date(2026, 3, 5)), unchanged, SPAN) is None, "no change"


def test_no_warning_for_an_asset_whose_months_end_before_the_posted_ones() -> None:
    # Acquired 2001-02 with a 48-month life: its months end in 2005-01, long before 2026.
    old = row(acquired_on=date(2001, 2, 22), life_months=48)
    assert warning(old, None, SPAN) is None
    disposed_early = row(acquired_on=date(2025, 1, 1), disposed_on=date(2025, 12, 31))
    assert warning(disposed_early, None, SPAN) is None
    assert warning(row(acquired_on=date(2025, 1, 1)), None, SPAN) is not None, "runs into 2026"


money = st.integers(min_value=1, max_value=10**9).map(lambda c: Decimal(c).scaleb(-2))


@st.composite
def asset_terms(draw: st.DrawFn) -> AssetTerms:
    cost = draw(money)
    method = draw(st.sampled_from(list(Method)))
    return AssetTerms(
        cost=cost,
        salvage=draw(st.sampled_from([Decimal("0.00"), (cost / 10).quantize(Decimal("0.01"))])),
        life_months=draw(st.integers(1, 60)),
        method=method,
        annual_rate=Decimal(draw(st.sampled_from(["0.25", "0.5", "1"]))),
        acquired_on=date(draw(st.integers(2024, 2026)), draw(st.integers(1, 12)), 1),
        disposed_on=draw(st.none() | st.dates(date(2024, 1, 1), date(2027, 12, 31))),
    )


@given(
    assets=st.lists(asset_terms(), max_size=12),
    candidates=st.lists(st.integers(Period(2024, 1).index, Period(2028, 12).index), unique=True),
)
def test_the_first_depreciating_month_is_what_checking_every_asset_every_month_finds(
    assets: list[AssetTerms], candidates: list[int]
) -> None:
    """The sweep computes each asset once; the obvious search computes all of them each month."""
    months = sorted(candidates)
    expected = next(
        (
            m for m in months
            if any(not isinstance(depreciate_cents(a, m // 12, m % 12 + 1), Skipped)
                   for a in assets)
        ),
        None,
    )  # fmt: skip
    assert first_depreciating(months, assets) == expected


def test_assets_that_finish_early_are_computed_once_not_once_per_month() -> None:
    # Straight line rounded up: 0.30 over 60 months is 0.005, rounded to 0.01 a month, so
    # the 30 cents are gone after 30 months (mid-2022), though the life runs to 2024-12.
    early = AssetTerms(Decimal("0.30"), Decimal("0.00"), 60, Method.STRAIGHT_LINE, None,
                       date(2020, 1, 1))  # fmt: skip
    calls = 0

    class Counting(list[AssetTerms]):
        def __iter__(self):  # type: ignore[no-untyped-def]
            nonlocal calls
            for item in super().__iter__():
                calls += 1
                yield item

    months = [Period(2024, m).index for m in range(1, 13)]
    assert first_depreciating(months, Counting([early] * 1000)) is None
    assert calls == 1000
