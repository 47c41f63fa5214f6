"""The demo asset register: seeded, varied, and every row valid input for the schedule."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from progress_sse.accounting.depreciation.demo_data import demo_assets
from progress_sse.accounting.depreciation.schedule import (
    AssetTerms,
    Depreciation,
    Method,
    Skipped,
    SkipReason,
    TaxGroup,
    depreciate,
    months_between,
    resolve_terms,
)

TODAY = date(2026, 11, 23)
ASSETS = demo_assets(700, today=TODAY)


def terms_of(asset: dict[str, Any]) -> AssetTerms:
    life_months, annual_rate = resolve_terms(
        asset["method"],
        asset["tax_group"],
        asset["life_months"],
        asset["annual_rate"],
        cost=asset["cost"],
        salvage=asset["salvage"],
    )
    return AssetTerms(
        cost=asset["cost"],
        salvage=asset["salvage"],
        life_months=life_months,
        method=asset["method"],
        annual_rate=annual_rate,
        acquired_on=asset["acquired_on"],
        disposed_on=asset["disposed_on"],
    )


def test_same_seed_gives_the_same_register() -> None:
    assert demo_assets(100, today=TODAY) == demo_assets(100, today=TODAY)
    assert demo_assets(100, today=TODAY, seed=7) == demo_assets(100, today=TODAY, seed=7)


def test_another_seed_gives_another_register() -> None:
    assert demo_assets(100, today=TODAY, seed=1) != demo_assets(100, today=TODAY, seed=2)


@pytest.mark.parametrize("count", [0, 1, 700])
def test_count_rows_are_returned(count: int) -> None:
    assert len(demo_assets(count, today=TODAY)) == count


def test_codes_are_unique() -> None:
    codes = [a["code"] for a in ASSETS]
    assert len(set(codes)) == len(codes)


def test_both_methods_occur() -> None:
    assert {a["method"] for a in ASSETS} == set(Method)


def test_every_tax_group_occurs_and_so_do_rows_without_one() -> None:
    assert {a["tax_group"] for a in ASSETS} == {*TaxGroup, None}


def test_some_rows_are_disposed_never_before_acquisition() -> None:
    disposed = [a for a in ASSETS if a["disposed_on"] is not None]
    assert disposed
    assert all(a["disposed_on"] >= a["acquired_on"] for a in disposed)


def test_some_rows_are_not_yet_acquired() -> None:
    assert any(a["acquired_on"] > TODAY for a in ASSETS)


def test_some_rows_are_past_their_useful_life() -> None:
    assert any(
        months_between(a["acquired_on"], TODAY.year, TODAY.month) >= terms_of(a).life_months
        for a in ASSETS
    )


def test_some_rows_are_acquired_mid_year() -> None:
    assert any(a["acquired_on"].month != 1 for a in ASSETS)


def test_every_row_builds_valid_terms_and_depreciates_without_raising() -> None:
    for asset in ASSETS:
        result = depreciate(terms_of(asset), TODAY.year, TODAY.month)
        assert isinstance(result, Depreciation | Skipped), asset["code"]


def test_a_run_today_meets_several_skip_reasons() -> None:
    reasons: set[SkipReason] = set()
    for asset in ASSETS:
        result = depreciate(terms_of(asset), TODAY.year, TODAY.month)
        if isinstance(result, Skipped):
            reasons.add(result.reason)
    assert len(reasons) >= 2
