"""Percentage-range arithmetic, rate and ETA, and event payloads (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from progress_sse.runs.events import iso
from progress_sse.runs.statuses import RunStatus, StepStatus
from progress_sse.wire import ProgressEventJson, TerminalEventJson


@dataclass(frozen=True, slots=True)
class StepSpec:
    """A named step owning the slice `[start, end]` of the run's 0-100 bar."""

    name: str
    start: float
    end: float


def even_steps(
    names: Sequence[str], weights: Sequence[float] | None = None
) -> tuple[StepSpec, ...]:
    """Steps sharing the bar in proportion to `weights` (equal shares by default).

    For steps known only from a run's params: one step per table of a sync.
    """
    shares = list(weights) if weights is not None else [1.0] * len(names)
    if len(shares) != len(names) or any(w <= 0 for w in shares):
        raise ValueError("one positive weight per step")
    total, start, specs = sum(shares), 0.0, []
    for i, (name, share) in enumerate(zip(names, shares, strict=True)):
        end = 100.0 if i == len(names) - 1 else round(start + 100 * share / total, 2)
        specs.append(StepSpec(name, start, end))
        start = end
    return tuple(specs)


def validate_steps(specs: Sequence[StepSpec]) -> None:
    """Reject duplicate names and ranges that leave 0-100 or go backwards."""
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"step names must be unique: {names}")
    previous_end = 0.0
    for spec in specs:
        if not (0 <= spec.start <= spec.end <= 100):
            raise ValueError(f"step {spec.name!r}: range {spec.start}-{spec.end} outside 0-100")
        if spec.start < previous_end:
            raise ValueError(f"step {spec.name!r} overlaps the step before it")
        previous_end = spec.end


def clamp(value: float, low: float = 0.0, high: float = 100.0) -> float:
    return max(low, min(high, value))


def step_percentage(
    spec: StepSpec, *, processed: int = 0, total: int | None = None, fraction: float | None = None
) -> float:
    """Overall percentage for progress inside `spec`: by fraction, or processed/total."""
    if fraction is None:
        fraction = processed / total if total else 0.0
    return round(spec.start + (spec.end - spec.start) * clamp(fraction, 0.0, 1.0), 2)


def rate_and_eta(
    processed: int, total: int | None, elapsed_s: float
) -> tuple[float | None, float | None]:
    """Items per second since the step began, and seconds left at that rate."""
    if processed <= 0 or elapsed_s <= 0:
        return None, None
    rate = processed / elapsed_s
    eta = max(0.0, (total - processed) / rate) if total is not None else None
    return round(rate, 1), (round(eta, 1) if eta is not None else None)


@dataclass(slots=True)
class StepState:
    """The mutable state of one step during a run (owned by one job context)."""

    index: int
    spec: StepSpec
    status: StepStatus = StepStatus.PENDING
    processed: int = 0
    skipped: int = 0
    total: int | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.spec.name,
            "status": self.status.value,
            "pct_start": self.spec.start,
            "pct_end": self.spec.end,
            "processed": self.processed,
            "skipped": self.skipped,
            "total": self.total,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
        }


def progress_payload(
    *,
    run_id: str,
    seq: int,
    status: RunStatus,
    percentage: float,
    message: str,
    step: StepState | None,
    processed: int,
    skipped: int,
    total: int | None,
    rate: float | None,
    eta_s: float | None,
    ts: datetime,
) -> ProgressEventJson:
    """The data of an unnamed progress event (`wire.ProgressEventJson`)."""
    return {
        "run_id": run_id,
        "seq": seq,
        "status": status.value,
        "percentage": float(percentage),  # always a JSON float: 100.0, never 100
        "message": message,
        "step": (
            {"index": step.index, "name": step.spec.name, "status": step.status.value}
            if step
            else None
        ),
        "processed": processed,
        "skipped": skipped,
        "total": total,
        "rate": rate,
        "eta_s": eta_s,
        "ts": iso(ts),
    }


def terminal_payload(
    *,
    run_id: str,
    seq: int,
    status: RunStatus,
    percentage: float,
    message: str,
    processed: int,
    error_code: str | None,
    result: dict[str, Any] | None,
    ts: datetime,
) -> TerminalEventJson:
    """The data of a `complete`, `error` or `cancelled` event (`wire.TerminalEventJson`)."""
    data: TerminalEventJson = {
        "run_id": run_id,
        "seq": seq,
        "success": status is RunStatus.COMPLETED,
        "status": status.value,
        "percentage": float(percentage),  # always a JSON float: 100.0, never 100
        "message": message,
        "records_processed": processed,
        "ts": iso(ts),
    }
    if status is RunStatus.COMPLETED:
        data["result"] = result
    else:
        data["error_code"] = error_code
    return data
