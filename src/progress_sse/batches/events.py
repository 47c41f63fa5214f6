"""What a batch says on its stream and in its webhook (pure functions of its children).

A batch's events keep a run's contract (`wire.ProgressEventJson`, `TerminalEventJson`)
and add the exact counts and the child that moved, so any client of a run's stream can
show a batch, and one that knows batches shows its parts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from progress_sse.batches.models import BatchChild
from progress_sse.batches.plan import ChildState, Counts, Outcome, counts
from progress_sse.runs.events import iso
from progress_sse.runs.statuses import RunStatus
from progress_sse.wire import (
    BatchChildOutcomeJson,
    BatchChildRefJson,
    BatchCountsJson,
    BatchProgressEventJson,
    ChildStatusName,
    RunStatusName,
    StepRefJson,
    StepStatusName,
)

CHILD_STATE_OF_RUN = {
    RunStatus.PENDING: ChildState.RUNNING,  # started: waiting for a worker
    RunStatus.RUNNING: ChildState.RUNNING,
    RunStatus.PAUSED: ChildState.RUNNING,  # not ended (a child pauses only with its batch)
    RunStatus.COMPLETED: ChildState.SUCCEEDED,
    RunStatus.FAILED: ChildState.FAILED,
    RunStatus.CANCELLED: ChildState.CANCELLED,
}
# A child as a step of the batch (the `step` of a batch's event, for clients of runs).
STEP_STATUS_OF_CHILD: dict[ChildState, StepStatusName] = {
    ChildState.PENDING: "pending",
    ChildState.RUNNING: "in_progress",
    ChildState.SUCCEEDED: "completed",
    ChildState.FAILED: "failed",
    ChildState.CANCELLED: "failed",
    ChildState.SKIPPED: "skipped",
}
OUTCOME_STATUS: dict[Outcome, RunStatus] = {
    "completed": RunStatus.COMPLETED,
    "failed": RunStatus.FAILED,
    "cancelled": RunStatus.CANCELLED,
}


def states(children: Sequence[BatchChild]) -> list[ChildState]:
    return [ChildState(child.state) for child in children]


def counts_of(children: Sequence[BatchChild]) -> BatchCountsJson:
    return cast(BatchCountsJson, dict(counts(states(children))))


def ended(tally: Counts | BatchCountsJson) -> int:
    return tally["succeeded"] + tally["failed"] + tally["cancelled"] + tally["skipped"]


def child_ref(child: BatchChild) -> BatchChildRefJson:
    step = cast(StepRefJson | None, child.step)
    return {
        "index": child.index,
        "name": child.name,
        "kind": child.kind,
        "run_id": child.run_id,
        "status": cast(ChildStatusName, child.state),
        "percentage": float(child.percentage),
        "step": step,
        "reason": child.reason,
    }


def progress_data(
    *, batch_id: str, seq: int, percentage: float, message: str,
    children: Sequence[BatchChild], current: BatchChild | None, ts: datetime,
    status: RunStatusName = "running",
) -> BatchProgressEventJson:  # fmt: skip
    """A batch's unnamed event: the weighted percentage, the child that moved, the counts
    (`status` is `paused` once a pausing batch has no child running)."""
    tally = counts_of(children)
    state = ChildState(current.state) if current is not None else None
    return {
        "run_id": batch_id,
        "seq": seq,
        "status": status,
        "percentage": float(percentage),
        "message": message,
        "step": (
            {"index": current.index, "name": current.name, "status": STEP_STATUS_OF_CHILD[state]}
            if current is not None and state is not None
            else None
        ),
        "processed": ended(tally),
        "skipped": tally["skipped"],
        "total": len(children),
        "rate": None,
        "eta_s": None,
        "ts": iso(ts),
        "counts": tally,
        "child": child_ref(current) if current is not None else None,
    }


def outcomes(children: Sequence[BatchChild]) -> list[BatchChildOutcomeJson]:
    return [
        {
            "index": c.index,
            "name": c.name,
            "kind": c.kind,
            "run_id": c.run_id,
            "status": cast(ChildStatusName, c.state),
            "reason": c.reason,
        }
        for c in children
    ]


ENDED_VERB = {
    ChildState.SUCCEEDED: "completed",
    ChildState.FAILED: "failed",
    ChildState.CANCELLED: "was cancelled",
}


def progress_message(child: BatchChild) -> str:
    """`Depreciation: Posting 1,200 of 4,000 assets`: the child, then what it says."""
    return f"{child.name}: {child.message}" if child.message else child.name


def moved_message(children: Sequence[BatchChild], ended_child: BatchChild | None) -> str:
    """What a batch says when a child ends or starts: what ended, and what runs now."""
    running = [c.name for c in children if c.state == ChildState.RUNNING]
    said = []
    if ended_child is not None:
        verb = ENDED_VERB.get(ChildState(ended_child.state), "ended")
        said.append(f"{ended_child.name} {verb}.")
    if running:
        said.append(f"Running: {', '.join(running)}.")
    return " ".join(said) or "Starting."


def cancelling_message(children: Sequence[BatchChild]) -> str:
    running = [c.name for c in children if c.state == ChildState.RUNNING]
    return f"Cancelling: waiting for {', '.join(running)} to stop." if running else "Cancelling."


def pausing_message(children: Sequence[BatchChild]) -> str:
    running = [c.name for c in children if c.state == ChildState.RUNNING]
    return f"Pausing: no part starts after {', '.join(running)} finish(es)."


def paused_message(children: Sequence[BatchChild]) -> str:
    tally, n = counts_of(children), len(children)
    return f"Paused: {tally['succeeded']} of {n} part(s) done; resume to continue."


def ending_message(outcome: Outcome, children: Sequence[BatchChild]) -> str:
    """How the batch ended, in a sentence: the first child that failed and why, and what
    that left undone."""
    tally = counts_of(children)
    n = len(children)
    if outcome == "completed":
        return f"Completed: all {n} part(s) succeeded."
    rest = [f"{tally['succeeded']} of {n} succeeded"]
    if tally["skipped"]:
        rest.append(f"{tally['skipped']} skipped")
    if outcome == "cancelled":
        return f"Cancelled: {', '.join(rest)}."
    first = next((c for c in children if c.state == ChildState.FAILED), None)
    if first is None:
        return f"Failed: {', '.join(rest)}."
    why = f": {first.reason.rstrip('.')}" if first.reason else ""
    return f"Failed: {first.name} failed{why}. {', '.join(rest)}."
