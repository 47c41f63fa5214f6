"""The run report's pure parts: times and durations in words, the bounded timeline, text that
cannot widen a table or become markup, and the depreciation kind's own sections."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from markupsafe import escape

from progress_sse.accounting.depreciation.report import depreciation_report
from progress_sse.runs.events import RunEvent
from progress_sse.runs.statuses import EventName
from progress_sse.web.report.render import breakable, renderer
from progress_sse.web.report.text import clip, duration_text, utc_from_iso, utc_text, value_text
from progress_sse.web.report.timeline import Timeline


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (None, "—"),
        (0.0004, "0 ms"),
        (0.85, "850 ms"),
        (12.44, "12.4 s"),
        (245, "4 min 05 s"),
        (2 * 3600 + 3 * 60 + 29, "2 h 03 min"),
        (3 * 86400 + 4 * 3600, "3 d 04 h"),
        (-1, "—"),
    ],
)
def test_durations_read_as_words(seconds: float | None, said: str) -> None:
    assert duration_text(seconds) == said


def test_times_are_utc_and_say_so_whatever_zone_they_came_in() -> None:
    jakarta = timezone(timedelta(hours=7))
    assert utc_text(datetime(2026, 12, 1, 7, 5, 9, tzinfo=jakarta)) == "2026-12-01 00:05:09 UTC"
    assert utc_from_iso("2026-11-30T14:06:19.444587Z") == "2026-11-30 14:06:19 UTC"
    assert utc_from_iso("not a time") == utc_from_iso(None) == "—"


def test_a_huge_value_is_cut_and_says_by_how_much() -> None:
    assert clip("x" * 10, limit=4) == "xxxx… (6 more characters)"
    assert clip("short") == "short"
    assert value_text({"b": [1, "<i>"], "a": None}) == '{"a": null, "b": [1, "<i>"]}'
    assert value_text("16940908070.85") == "16940908070.85", "money stays the stored text"


def test_breakable_escapes_and_lets_only_long_runs_break() -> None:
    hostile = "<script>alert(1)</script>" * 4
    drawn = str(breakable(hostile))
    assert "<script" not in drawn and "&lt;script&gt;" in drawn
    assert drawn.replace("<wbr>", "") == str(escape(hostile)), "only break opportunities added"
    assert "<wbr>" in drawn
    assert str(breakable("building_non_permanent")) == "building_<wbr>non_<wbr>permanent"
    assert str(breakable("fully depreciated 237,091,471.35")) == "fully depreciated 237,091,471.35"


def event(seq: int, step: tuple[int, str, str] | None, status: str = "running") -> RunEvent:
    data: dict[str, Any] = {
        "ts": "2026-11-30T14:06:19.000000Z", "status": status, "percentage": float(seq % 100),
        "message": f"item {seq}", "step": None,
    }  # fmt: skip
    if step is not None:
        data["step"] = {"index": step[0], "name": step[1], "status": step[2]}
    return RunEvent(run_id="r", seq=seq, event=None, data=data)


def test_the_timeline_keeps_step_changes_and_counts_the_ticks_between_them() -> None:
    timeline = Timeline()
    timeline.add(event(1, None, status="pending"))
    timeline.add(event(2, (0, "load", "in_progress")))
    for seq in range(3, 1003):
        timeline.add(event(seq, (0, "load", "in_progress")))
    timeline.add(event(1003, (0, "load", "completed")))
    done = {"ts": "2026-11-30T14:06:20Z", "percentage": 100.0, "message": "Done."}
    timeline.add(RunEvent(run_id="r", seq=1004, event=EventName.COMPLETE, data=done))
    assert [(c.step, c.what) for c in timeline.changes] == [
        ("", "run queued"), ("load", "started"), ("load", "done"), ("", "run completed"),
    ]  # fmt: skip
    assert timeline.changes[-1].ending and timeline.changes[-1].done == "100.0 %"
    assert timeline.ticks == 1000
    assert timeline.sentence() == (
        "1,000 progress updates between these changes are not listed. The run log has every event."
    )


def test_a_long_run_keeps_the_first_and_last_changes_and_says_how_many_are_left_out() -> None:
    timeline = Timeline(head_size=5, tail_size=3)
    for seq in range(1, 21):  # each event a new step: 20 changes
        timeline.add(event(seq, (seq, f"table_{seq}", "in_progress")))
    assert [c.seq for c in timeline.changes] == [1, 2, 3, 4, 5, 18, 19, 20]
    assert timeline.left_out == 12
    assert timeline.sentence().startswith("12 step changes in the middle of this long run")


def test_the_policy_allows_exactly_the_stylesheet_it_sends() -> None:
    drawing = renderer()
    assert "script" not in drawing.csp and "default-src 'none'" in drawing.csp
    assert "@page { size: A4" in drawing.css


# The demo tenant's November 2026 as docs/accounting.md shows it (a posting, not a preview).
RESULT: dict[str, Any] = {
    "period": "2026-11", "currency": "IDR", "month_end": "2026-11-30", "dry_run": False,
    "document_no": "DEP/2026/11/0003", "reversal_no": "DEP/2026/11/0002",
    "reverses": "DEP/2026/11/0001", "records_processed": 1424, "entries": 1424,
    "total_amount": "16940908070.85",
    "totals_by_tax_group": {
        "1": {"entries": 152, "amount": "4172266276.06"},
        "2": {"entries": 191, "amount": "2806278304.54"},
        "3": {"entries": 249, "amount": "1845336065.93"},
        "4": {"entries": 251, "amount": "1502315055.38"},
        "building_non_permanent": {"entries": 198, "amount": "2134255000.01"},
        "building_permanent": {"entries": 233, "amount": "1227207500.03"},
        "none": {"entries": 150, "amount": "3253249868.90"},
    },
    "totals_by_method": {
        "declining_balance": {"entries": 333, "amount": "5464849445.88"},
        "straight_line": {"entries": 1091, "amount": "11476058624.97"},
    },
    "skipped": {"disposed": 56, "fully_depreciated": 468, "not_acquired": 52},
    "skipped_assets": {"disposed": [f"AT-{i:06d}" for i in range(20)], "not_acquired": ["AT-1"]},
    "assets": 2000, "earlier_unposted": None, "warnings": [],
}  # fmt: skip


def test_a_posting_s_sections_carry_its_figures_exactly() -> None:
    posting, groups, methods, skipped = depreciation_report(RESULT, {"year": 2026, "month": 11})
    facts = dict(posting.facts)
    assert facts["Document"] == "DEP/2026/11/0003"
    assert facts["Reverses"] == "DEP/2026/11/0001 (reversal DEP/2026/11/0002)"
    assert facts["Entries"] == "1,424" and facts["Total"] == "IDR 16,940,908,070.85"
    assert [link.path for link in posting.links] == [
        "api/depreciation/2026/11?format=csv", "api/depreciation/2026/11/documents?format=csv",
    ]  # fmt: skip
    table = groups.tables[0]
    assert table.rows[0] == ("1", "152", "4,172,266,276.06")
    assert table.total == ("Total", "1,424", "16,940,908,070.85"), "the groups add up exactly"
    assert Decimal("16940908070.85") == sum(
        Decimal(row["amount"]) for row in RESULT["totals_by_tax_group"].values()
    )
    assert methods.tables[0].total[1:] == ("1,424", "16,940,908,070.85")
    assert skipped.tables[0].rows == (
        ("disposed", "56", ", ".join(f"AT-{i:06d}" for i in range(20)) + " (the first 20 of 56)"),
        ("fully depreciated", "468", "—"),
        ("not acquired", "52", "AT-1 (the first 1 of 52)"),
    )


def test_a_preview_says_nothing_was_posted_and_links_no_journal() -> None:
    preview = {**RESULT, "dry_run": True, "document_no": None, "reversal_no": None,
               "warnings": ["2026-11 is locked"]}  # fmt: skip
    posting = depreciation_report(preview, {})[0]
    assert posting.title == "Preview (nothing was posted)"
    assert dict(posting.facts)["Document"] == "none: a preview posts nothing"
    assert dict(posting.facts)["Would reverse"] == "DEP/2026/11/0001"
    assert posting.links == () and posting.paragraphs == ("Warning: 2026-11 is locked",)
