"""Runs and steps as JSON: the shapes of `wire.py`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from progress_sse.jobs.liveness import is_stale
from progress_sse.runs.events import iso_or_none
from progress_sse.runs.models import Run, RunStep
from progress_sse.wire import RunJson, RunStatusName, StepJson, StepStatusName


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
        "duration_s": (
            round((step.finished_at - step.started_at).total_seconds(), 3)
            if step.started_at and step.finished_at
            else None
        ),
        "error": step.error,
    }


def run_json(
    run: Run,
    stale_after_s: float,
    steps: Sequence[RunStep] | None = None,
    *,
    resumable: bool = False,
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
        "stale": is_stale(run, stale_after_s),
        "resumable": resumable,
        "url": f"{root}/api/runs/{run.id}",
        "events_url": f"{root}/api/runs/{run.id}/events",
    }
    if steps is not None:
        data["steps"] = [step_json(s) for s in steps]
    return data
