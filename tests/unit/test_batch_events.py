"""What a batch says: its events' shapes and its sentences, from its children alone."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from progress_sse.batches import events as said
from progress_sse.batches.models import BatchChild


def child(index: int, name: str, state: str, **more: Any) -> BatchChild:
    values: dict[str, Any] = dict(batch_id="b", index=index, name=name, kind="demo", params={},
                                  weight=1.0, after=[], state=state, run_id=None, reason=None,
                                  percentage=0.0, message="", step=None)  # fmt: skip
    return BatchChild(**(values | more))


def test_a_progress_event_counts_every_child_once_and_names_the_one_that_moved() -> None:
    children = [
        child(0, "Import", "succeeded"),
        child(
            1,
            "Depreciation",
            "running",
            run_id="r1",
            percentage=40.0,
            message="Posting",
            step={"index": 3, "name": "process", "status": "in_progress"},
        ),
        child(2, "Lock", "pending"),
    ]
    data = said.progress_data(
        batch_id="b", seq=7, percentage=46.0, message=said.progress_message(children[1]),
        children=children, current=children[1], ts=datetime(2026, 11, 30, tzinfo=UTC),
    )  # fmt: skip
    assert data["counts"] == {"succeeded": 1, "failed": 0, "cancelled": 0, "skipped": 0,
                              "running": 1, "pending": 1}  # fmt: skip
    assert (data["processed"], data["skipped"], data["total"]) == (1, 0, 3)
    assert data["message"] == "Depreciation: Posting"
    assert data["step"] == {"index": 1, "name": "Depreciation", "status": "in_progress"}
    step = {"index": 3, "name": "process", "status": "in_progress"}
    assert data["child"] == {"index": 1, "name": "Depreciation", "kind": "demo", "run_id": "r1",
                             "status": "running", "percentage": 40.0, "step": step,
                             "reason": None}  # fmt: skip
    assert data["ts"] == "2026-11-30T00:00:00.000000Z" and data["status"] == "running"


def test_the_ending_says_what_failed_why_and_what_it_left_undone() -> None:
    children = [
        child(0, "Import", "succeeded"),
        child(1, "Depreciation", "failed", reason="The period 2026-11 is locked."),
        child(2, "Lock", "skipped", reason="skipped: it waits for child 1 (Depreciation), ..."),
    ]
    assert said.ending_message("failed", children) == (
        "Failed: Depreciation failed: The period 2026-11 is locked. 1 of 3 succeeded, 1 skipped."
    )
    assert said.ending_message("completed", [child(0, "a", "succeeded")]) == (
        "Completed: all 1 part(s) succeeded."
    )
    cancelled = [child(0, "a", "cancelled"), child(1, "b", "skipped")]
    assert said.ending_message("cancelled", cancelled) == "Cancelled: 0 of 2 succeeded, 1 skipped."
    assert [o["status"] for o in said.outcomes(children)] == ["succeeded", "failed", "skipped"]


def test_a_move_says_what_ended_and_what_runs_now() -> None:
    children = [child(0, "a", "succeeded"), child(1, "b", "running"), child(2, "c", "running")]
    assert said.moved_message(children, children[0]) == "a completed. Running: b, c."
    assert said.moved_message([child(0, "a", "pending")], None) == "Starting."
    assert said.cancelling_message(children) == "Cancelling: waiting for b, c to stop."
