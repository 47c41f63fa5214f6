"""Runs and steps as JSON: the shapes of `wire.py`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from progress_sse.batches.events import counts_of
from progress_sse.batches.store import BatchView, ChildView
from progress_sse.jobs.liveness import is_stale
from progress_sse.runs.events import iso_or_none
from progress_sse.runs.models import Run, RunStep
from progress_sse.wire import (
    BatchChildJson,
    BatchJson,
    ChildStatusName,
    RunJson,
    RunStatusName,
    StepJson,
    StepRefJson,
    StepStatusName,
)


def duration_s(started: datetime | None, finished: datetime | None) -> float | None:
    return round((finished - started).total_seconds(), 3) if started and finished else None


def step_json(step: RunStep) -> StepJson:
    return {
        "index": step.index,
        "name": step.name,
        "status": cast(StepStatusName, step.status),
        "pct_start": float(step.pct_start),
        "pct_end": float(step.pct_end),
        "processed": step.processed,
        "skipped": step.skipped,
        "total": step.total,
        "started_at": iso_or_none(step.started_at),
        "finished_at": iso_or_none(step.finished_at),
        "duration_s": duration_s(step.started_at, step.finished_at),
        "error": step.error,
    }


def run_json(
    run: Run,
    stale_after_s: float,
    steps: Sequence[RunStep] | None = None,
    *,
    resumable: bool = False,
    pausable: bool = False,
    summary: str | None = None,
    root: str = "",
) -> RunJson:
    """`root`: the path the service is mounted at, so `url` and `events_url` can be followed."""
    data: RunJson = {
        "id": run.id,
        "tenant": run.tenant_id,
        "kind": run.kind,
        "params": run.params,
        "status": cast(RunStatusName, run.status),
        "percentage": float(run.percentage),
        "message": run.message,
        "current_step": run.current_step,
        "processed": run.processed,
        "skipped": run.skipped,
        "total": run.total,
        "rate": run.rate,
        "eta_s": run.eta_s,
        "seq": run.seq,
        "attempt": run.attempt,
        "heartbeat_at": iso_or_none(run.heartbeat_at),
        "created_at": iso_or_none(run.created_at),
        "started_at": iso_or_none(run.started_at),
        "finished_at": iso_or_none(run.finished_at),
        "error": run.error,
        "error_code": run.error_code,
        "result": run.result,
        "summary": summary,
        "created_by": run.created_by,
        "batch_id": run.parent_id,
        "stale": is_stale(run, stale_after_s),
        "resumable": resumable,
        "pausable": pausable and run.parent_id is None,
        "pause_requested": run.pause_requested,
        "url": f"{root}/api/runs/{run.id}",
        "events_url": f"{root}/api/runs/{run.id}/events",
    }
    if steps is not None:
        data["steps"] = [step_json(s) for s in steps]
    return data


def child_json(view: ChildView, root: str) -> BatchChildJson:
    child, run = view.child, view.run
    started = run.started_at if run is not None else None
    finished = run.finished_at if run is not None else None
    return {
        "index": child.index,
        "name": child.name,
        "kind": child.kind,
        "params": child.params,
        "weight": float(child.weight),
        "after": list(child.after),
        "status": cast(ChildStatusName, child.state),
        "reason": child.reason,
        "run_id": child.run_id,
        "percentage": 100.0 if child.state == "succeeded" else float(child.percentage),
        "message": run.message if run is not None else child.message,
        "step": cast(StepRefJson | None, child.step),
        "started_at": iso_or_none(started),
        "finished_at": iso_or_none(finished),
        "duration_s": duration_s(started, finished),
        "url": f"{root}/api/runs/{child.run_id}" if child.run_id else None,
        "events_url": f"{root}/api/runs/{child.run_id}/events" if child.run_id else None,
    }


def batch_json(
    view: BatchView, stale_after_s: float, root: str = "", admin_only: bool = False
) -> BatchJson:
    """A batch with its children; `root` as in `run_json`. Its sign of life is its running
    children's: a batch is as alive as the work it waits for. `admin_only`: a child's kind
    only an admin may start (the registry knows)."""
    batch = view.batch
    running = [v.run for v in view.children if v.run is not None and v.run.status == "running"]
    beats = [run.heartbeat_at for run in running if run.heartbeat_at is not None]
    return {
        "id": batch.id,
        "tenant": batch.tenant_id,
        "name": str(batch.params.get("name", "")),
        "parallel": bool(batch.params.get("parallel", False)),
        "status": cast(RunStatusName, batch.status),
        "percentage": float(batch.percentage),
        "message": batch.message,
        "counts": counts_of([v.child for v in view.children]),
        "seq": batch.seq,
        "created_at": iso_or_none(batch.created_at),
        "started_at": iso_or_none(batch.started_at),
        "finished_at": iso_or_none(batch.finished_at),
        "error_code": batch.error_code,
        "created_by": batch.created_by,
        "admin_only": admin_only,
        "heartbeat_at": iso_or_none(max(beats)) if beats else None,
        "stale": any(is_stale(run, stale_after_s) for run in running),
        "resumable": batch.status in ("failed", "cancelled", "paused"),
        "pause_requested": batch.pause_requested,
        "url": f"{root}/api/batches/{batch.id}",
        "events_url": f"{root}/api/batches/{batch.id}/events",
        "children": [child_json(v, root) for v in view.children],
    }
