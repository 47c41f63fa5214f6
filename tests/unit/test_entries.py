"""The run's hot loop on register rows (integers) against the independent reading of the rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from progress_sse.accounting.depreciation.entries import depreciate_rows
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.accounting.depreciation.posting import Row
from progress_sse.accounting.depreciation.register import RATE_SCALE, RegisterRow
from progress_sse.accounting.depreciation.tally import Tally
from tests.reference_books import Terms, line_for

cents = st.sampled_from([1, 3, 99, 101, 10**12 - 1, 2**53 + 1, 10**17 - 1]) | st.integers(1, 10**12)
rates = st.sampled_from(["0.000001", "0.125", "0.333333", "0.5", "0.999999", "1"])


@st.composite
def register_row(draw: st.DrawFn, asset_id: int) -> tuple[RegisterRow, Terms]:
    """A row as the register query returns it, and the same asset as the reference reads it."""
    cost = draw(cents)
    salvage = draw(st.sampled_from([0, cost, cost // 3, cost - 1]))
    life = draw(st.sampled_from([1, 2, 7, 12, 13, 48, 61, 240]))
    method = draw(st.sampled_from(["straight_line", "declining_balance"]))
    rate = Decimal(draw(rates))
    acquired = date(draw(st.integers(2019, 2026)), draw(st.integers(1, 12)), 28)
    disposed = draw(st.none() | st.dates(acquired, date(2027, 12, 31)))
    group = draw(st.sampled_from([None, "1", "building_permanent"]))
    row = (
        asset_id, cost, salvage, life, method, int(rate * RATE_SCALE),
        Period(acquired.year, acquired.month).index,
        None if disposed is None else Period(disposed.year, disposed.month).index, group,
    )  # fmt: skip
    terms = Terms(
        Decimal(cost).scaleb(-2), Decimal(salvage).scaleb(-2), life, method,
        rate if method == "declining_balance" else None, acquired, disposed,
    )  # fmt: skip
    return row, terms


@settings(max_examples=60, deadline=None)
@given(
    assets=st.lists(st.integers(0, 10**6), max_size=40, unique=True).flatmap(
        lambda ids: st.tuples(*(register_row(i) for i in sorted(ids)))
    ),
    month=st.integers(Period(2024, 1).index, Period(2027, 12).index),
)
def test_each_rows_entry_is_the_reference_line_to_the_cent(
    assets: tuple[tuple[RegisterRow, Terms], ...], month: int
) -> None:
    rows, tally, entries = [row for row, _ in assets], Tally(), []
    half = len(rows) // 2  # two slices, as a run calls it
    depreciate_rows(rows[:half], month, tally, entries)
    depreciate_rows(rows[half:], month, tally, entries)
    period = Period.from_index(month)
    expected: list[Row] = []
    for row, terms in assets:
        line = line_for(terms, period.year, period.month)
        if line is not None:
            amount, accumulated, book_value = (
                int(v.scaleb(2)) for v in (line.amount, line.accumulated, line.book_value)
            )
            expected.append((row[0], amount, accumulated, book_value))
    assert entries == expected
    assert tally.entries == len(expected)
    assert tally.cents == sum(entry[1] for entry in expected)
    assert tally.entries + tally.skipped_count == len(rows)
