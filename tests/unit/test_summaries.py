"""The sentences a completed run is summed up in, from its result alone."""

from __future__ import annotations

import logging

import pytest
from pydantic import BaseModel

from progress_sse import JobKind
from progress_sse.accounting import summaries
from progress_sse.jobs.kinds import JobRegistry

POSTED = {"period": "2026-11", "currency": "IDR", "dry_run": False,
          "document_no": "DEP/2026/11/0001", "reversal_no": None, "reverses": None,
          "records_processed": 1424, "entries": 1424,
          "total_amount": "16940908070.85",
          "skipped": {"disposed": 56, "not_acquired": 52, "fully_depreciated": 468}}  # fmt: skip


def test_a_posting_names_its_document_total_and_skips() -> None:
    assert summaries.depreciation(POSTED) == (
        "Posted 1,424 entries (DEP/2026/11/0001), total IDR 16,940,908,070.85. "
        "Skipped: 56 disposed, 468 fully depreciated, 52 not acquired."
    )


def test_a_repost_names_the_reversal_and_a_preview_posts_nothing() -> None:
    repost = POSTED | {"document_no": "DEP/2026/11/0003", "reverses": "DEP/2026/11/0001",
                       "reversal_no": "DEP/2026/11/0002", "skipped": {}}  # fmt: skip
    preview = POSTED | {"dry_run": True, "document_no": None, "total_amount": "0.10"}
    assert summaries.depreciation(repost).endswith(
        "Skipped: none. It reverses DEP/2026/11/0001 with DEP/2026/11/0002."
    )
    assert summaries.depreciation(preview).startswith(
        "Preview of 2026-11: 1,424 entries, total IDR 0.10. Nothing was posted."
    )


def test_money_is_grouped_exactly_whatever_its_size() -> None:
    assert summaries.money("12345678901234567.89") == "12,345,678,901,234,567.89"
    assert summaries.money("0.05") == "0.05" and summaries.money("-1000.00") == "-1,000.00"
    assert summaries.money("1000.5", "EUR") == "EUR 1,000.5", "a result without currency: none"


def test_an_import_says_where_its_refused_rows_are() -> None:
    result = {"records_processed": 998, "bad_row_count": 2,
              "rejected_url": "/api/assets/imports/r1/rejected.csv", "warnings": []}  # fmt: skip
    assert summaries.asset_import(result) == (
        "Imported 998 assets. 2 rows were refused: /api/assets/imports/r1/rejected.csv lists them."
    )


class Nothing(BaseModel):
    pass


async def noop(_ctx: object, _params: object) -> None:
    return None


def test_a_summarizer_that_fails_costs_the_sentence_not_the_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = JobKind("broken", Nothing, noop, summarize=lambda result: result["missing"])
    registry = JobRegistry([broken, JobKind("plain", Nothing, noop)])
    with caplog.at_level(logging.WARNING):
        assert registry.summary("broken", {"other": 1}) is None
    assert registry.summary("plain", {"other": 1}) is None, "no summarizer, no sentence"
    assert registry.summary("gone", {"other": 1}) is None, "a kind no longer installed"
    assert "could not summarize" in caplog.text
