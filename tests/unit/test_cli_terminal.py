"""What the command line shows: ids whole in any terminal, results spelled out, help that
reads like help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from progress_sse.cli.batches import CHILD_COLUMNS, CHILD_LEAVE_OUT, child_rows, outcome_lines
from progress_sse.cli.terminal import grid, summary_lines, tally

CLI = str(Path(sys.executable).parent / "progress-sse")
RUN_ID = "crc1vtxepwkp2fyc2ytyqwdgd1"


@pytest.mark.parametrize("width", [80, 120])
def test_a_run_id_is_never_cut_in_a_table(width: int) -> None:
    message = "Posting 12,000 entries for November 2026, tax group 2, declining balance " * 2
    rows = [[RUN_ID, "asset_depreciation", "running", "45%", "2026-11-30T10:00:00Z", "1.0 s",
             message]]  # fmt: skip
    console = Console(width=width, record=True, color_system=None)
    console.print(
        grid("Runs", ("id", "kind", "status", "done", "started", "duration", "message"), rows)
    )
    shown = console.export_text()
    assert RUN_ID in shown, f"the id, whole, on one line at {width} columns"
    assert max(len(line) for line in shown.splitlines()) <= width


def test_at_80_columns_ids_stay_whole_and_short_columns_never_break() -> None:
    rows = [[RUN_ID, "asset_depreciation", "completed", "100%", "2026-11-30 18:10 UTC",
             "1.0 s", "Completed."]]  # fmt: skip
    columns = ("id", "kind", "status", "done", "started", "duration", "message")
    console = Console(width=80, record=True, color_system=None)
    console.print(grid("Runs", columns, rows, width=80))
    shown = console.export_text()
    for whole in (RUN_ID, "asset_depreciation", "completed", "100%"):
        assert whole in shown, f"{whole!r} in one piece"
    assert "message" not in shown and "2026-11" not in shown, "free text, then times, give way"
    assert max(len(line) for line in shown.splitlines()) <= 80
    wide = Console(width=120, record=True, color_system=None)
    wide.print(grid("Runs", columns, rows, width=120))
    assert "2026-11-30 18:10 UTC" in wide.export_text(), "with room, every column, whole"


def test_cell_text_is_shown_as_typed_not_as_markup() -> None:
    console = Console(width=120, record=True, color_system=None)
    console.print(grid("Keys", ("id", "name"), [[1, "ops [/] laptop"], [2, "[red]x[/red]"]]))
    shown = console.export_text()
    assert "ops [/] laptop" in shown and "[red]x[/red]" in shown


def test_a_result_is_a_line_per_field() -> None:
    result = {"document_no": "DEP/2026/11/0001", "records_processed": 1998,
              "total_amount": "16940908070.85", "skipped": {"fully_depreciated": 2}}  # fmt: skip
    assert summary_lines(result) == [
        "  document no: DEP/2026/11/0001",
        "  records processed: 1998",
        "  total amount: 16940908070.85",
        '  skipped: {"fully_depreciated": 2}',
    ]
    assert summary_lines(None) == []


def test_a_batch_s_counts_in_a_few_words() -> None:
    counts = {"succeeded": 1, "failed": 1, "cancelled": 0, "skipped": 1, "running": 0,
              "pending": 0}  # fmt: skip
    assert tally(counts) == "1/3 ok, 1 failed, 1 skipped"
    assert tally({**counts, "failed": 0, "skipped": 0, "succeeded": 3}) == "3/3 ok"
    assert tally({**counts, "failed": 0, "skipped": 0, "running": 1, "pending": 2}) == (
        "1/4 ok, 1 running, 2 pending"
    )


CHILDREN = [
    {"index": 0, "name": "Depreciation for November", "kind": "asset_depreciation",
     "status": "failed", "percentage": 53.3, "step": {"index": 3, "name": "post_entries",
     "status": "failed"}, "duration_s": 65.2, "run_id": RUN_ID, "reason": "Period is locked."},
    {"index": 1, "name": "Summary", "kind": "demo", "status": "skipped", "percentage": 0.0,
     "step": None, "duration_s": None, "run_id": None,
     "reason": "skipped: it waits for child 0 (Depreciation for November), which failed"},
]  # fmt: skip


@pytest.mark.parametrize(("width", "gone"), [(80, {"kind", "step", "duration", "reason"}),
                                             (100, {"kind", "step"}), (140, set())])  # fmt: skip
def test_a_child_table_keeps_its_names_and_run_ids_and_drops_the_kind_first(
    width: int, gone: set[str]
) -> None:
    console = Console(width=width, record=True, color_system=None)
    console.print(grid("Children", CHILD_COLUMNS, child_rows(CHILDREN), width, CHILD_LEAVE_OUT))
    shown = console.export_text()
    header = shown.splitlines()[2]
    assert {c for c in CHILD_COLUMNS if f" {c} " not in header} == gone
    assert RUN_ID in shown and "Summary" in shown and "Depreciation" in shown
    assert max(len(line) for line in shown.splitlines()) <= width


def test_each_child_s_outcome_is_a_line_with_its_run_and_why() -> None:
    assert outcome_lines(CHILDREN) == [
        f"  0 Depreciation for November  failed  run {RUN_ID}  Period is locked.",
        "  1 Summary  skipped  it waits for child 0 (Depreciation for November), which failed",
    ]


def help_of(*args: str) -> str:
    env = os.environ | {"COLUMNS": "100", "PROGRESS_SSE_DATABASE_URL": "sqlite:///:memory:"}
    done = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_shows_flags_without_a_type_and_completion_at_the_top() -> None:
    top, runs, watch, batches, listing = (
        help_of("--help"),
        help_of("runs", "--help"),
        help_of("runs", "watch", "--help"),
        help_of("batches", "--help"),
        help_of("batches", "list", "--help"),
    )
    for text in (top, runs, watch, batches, listing):
        assert "<bool>" not in text
    assert "--install-completion" in top, "completion is installed for the whole command"
    assert "--install-completion" not in runs and "--install-completion" not in batches
    assert " batches " in top and "--failed" in listing
    for command in ("list", "latest", "show", "watch", "cancel", "resume"):
        assert f" {command} " in batches


@pytest.mark.parametrize(
    ("words", "found"),
    [("progress-sse runs wa", ["watch"]), ("progress-sse batches re", ["resume"])],
)
def test_completion_reaches_the_runs_and_batches_commands(words: str, found: list[str]) -> None:
    env = os.environ | {"_PROGRESS_SSE_COMPLETE": "complete_bash", "COMP_WORDS": words,
                        "COMP_CWORD": "2"}  # fmt: skip
    done = subprocess.run([CLI], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == found
