"""What the command line shows: ids whole in any terminal, results spelled out, help that
reads like help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from progress_sse.cli.terminal import grid, summary_lines

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


def help_of(*args: str) -> str:
    env = os.environ | {"COLUMNS": "100", "PROGRESS_SSE_DATABASE_URL": "sqlite:///:memory:"}
    done = subprocess.run([CLI, *args], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_help_shows_flags_without_a_type_and_completion_at_the_top() -> None:
    top, runs, watch = (
        help_of("--help"),
        help_of("runs", "--help"),
        help_of("runs", "watch", "--help"),
    )
    for text in (top, runs, watch):
        assert "<bool>" not in text
    assert "--install-completion" in top, "completion is installed for the whole command"
    assert "--install-completion" not in runs


def test_completion_reaches_the_runs_commands() -> None:
    env = os.environ | {
        "_PROGRESS_SSE_COMPLETE": "complete_bash",
        "COMP_WORDS": "progress-sse runs wa",
        "COMP_CWORD": "2",
    }
    done = subprocess.run([CLI], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["watch"]
