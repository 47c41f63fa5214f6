"""A run's report as plain text values, ready to draw (pure: the rows are already read).

An unfinished run (pending, running, paused) gets a report too; it says the
outcome is not known yet and shows no result, never a guessed one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from progress_sse.jobs.report import ReportSection
from progress_sse.runs.models import Run, RunStep
from progress_sse.web.report.text import (
    clip,
    count_text,
    duration_text,
    seconds_between,
    utc_text,
    value_text,
)
from progress_sse.web.report.timeline import Change, Timeline

ENDED = {"completed": "Completed", "failed": "Failed", "cancelled": "Cancelled"}
STEP_STATUS = {"in_progress": "in progress", "pending": "not started"}


@dataclass(frozen=True, slots=True)
class StepRow:
    name: str
    status: str  # as stored, for the style
    said: str  # in words
    started: str
    took: str
    processed: str
    skipped: str
    total: str
    error: str


@dataclass(frozen=True, slots=True)
class Outcome:
    finished: bool
    headline: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Link:
    label: str
    url: str  # absolute: a saved report still points at the service


@dataclass(frozen=True, slots=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int]
    caption: str
    total: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Section:
    """A kind's `ReportSection` as drawn: every text clipped, every link a full URL."""

    title: str
    facts: tuple[tuple[str, str], ...]
    paragraphs: tuple[str, ...]
    tables: tuple[Table, ...]
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class RunReport:
    run_id: str
    title: str
    status: str
    facts: tuple[tuple[str, str], ...]
    outcome: Outcome
    params: tuple[tuple[str, str], ...]
    steps: tuple[StepRow, ...]
    sections: tuple[Section, ...]  # the kind's, or the result as a table
    timeline: tuple[Change, ...]
    timeline_note: str
    links: tuple[Link, ...]
    generated: str
    url: str  # of this report


@dataclass(frozen=True, slots=True)
class Source:
    """What a report is made from: the run's rows and what the registry said about them."""

    run: Run
    steps: Sequence[RunStep]
    timeline: Timeline
    title: str  # the kind's title
    summary: str | None
    sections: Sequence[ReportSection] | None  # the kind's own, for a completed run
    stale: bool
    base_url: str  # the service's root, ending in "/"
    now: datetime


def build(source: Source) -> RunReport:
    run = source.run
    return RunReport(
        run_id=run.id,
        title=source.title,
        status=run.status,
        facts=_facts(source),
        outcome=_outcome(source),
        params=tuple((clip(str(k)), value_text(v)) for k, v in sorted(run.params.items())),
        steps=tuple(_step_row(step) for step in source.steps),
        sections=_sections(source),
        timeline=tuple(source.timeline.changes),
        timeline_note=source.timeline.sentence(),
        links=(
            _link(source.base_url, "Run log (JSON)", f"api/runs/{run.id}/log"),
            _link(source.base_url, "Run log (CSV)", f"api/runs/{run.id}/log?format=csv"),
            _link(source.base_url, "The run (JSON)", f"api/runs/{run.id}"),
        ),
        generated=utc_text(source.now),
        url=absolute(source.base_url, f"api/runs/{run.id}/report"),
    )


def absolute(base_url: str, path: str) -> str:
    """A path under the service's root as a full URL; it can only ever point into the
    service (a kind's `javascript:` or `//elsewhere` path stays a path under it)."""
    return base_url + path.lstrip("/")


def _link(base_url: str, label: str, path: str) -> Link:
    return Link(clip(label, 200), absolute(base_url, path))


def drawn(section: ReportSection, base_url: str) -> Section:
    """A kind's section, bounded: its texts clipped, its links under the service's root."""
    return Section(
        title=clip(section.title, 200),
        facts=tuple((clip(label, 200), clip(value)) for label, value in section.facts),
        paragraphs=tuple(clip(p) for p in section.paragraphs),
        tables=tuple(
            Table(
                columns=tuple(clip(c, 200) for c in table.columns),
                rows=tuple(tuple(clip(cell) for cell in row) for row in table.rows),
                numeric=frozenset(table.numeric),
                caption=clip(table.caption),
                total=tuple(clip(cell) for cell in table.total),
            )
            for table in section.tables
        ),
        links=tuple(_link(base_url, link.label, link.path) for link in section.links),
    )


def _facts(source: Source) -> tuple[tuple[str, str], ...]:
    run = source.run
    facts = [
        ("Kind", f"{source.title} ({run.kind})" if source.title != run.kind else run.kind),
        ("Run", run.id),
        ("Tenant", run.tenant_id),
        ("Started by", run.created_by or "unknown"),
        ("Requested", utc_text(run.created_at)),
        ("Started", utc_text(run.started_at)),
        ("Finished", utc_text(run.finished_at)),
        ("Took", duration_text(seconds_between(run.started_at, run.finished_at))),
        ("Waited to start", duration_text(seconds_between(run.created_at, run.started_at))),
        ("Attempts", count_text(run.attempt)),
    ]
    if run.parent_id:
        facts.append(("Part of batch", run.parent_id))
    return tuple((label, clip(value)) for label, value in facts)


def _outcome(source: Source) -> Outcome:
    run = source.run
    ended = ENDED.get(run.status)
    if ended is None:
        lines = [
            f"This run has not finished: it is {run.status} (as of {utc_text(source.now)}). "
            "Its outcome is not known yet; open this report again once it has ended.",
            f"{run.percentage:.1f} % done" + (f": {clip(run.message)}" if run.message else "."),
        ]
        if source.stale:
            lines.append(
                f"Its worker has given no sign of life since {utc_text(run.heartbeat_at)}; "
                "it will be marked failed and can then be resumed."
            )
        return Outcome(False, "Not finished", tuple(lines))
    # "Completed." under "Completed" says nothing new, nor a message that is the error again
    said = run.message.rstrip(".") not in ("", ended) and run.message != run.error
    lines = [clip(run.message)] if said else []
    if run.status == "failed":
        lines += [f"Error: {clip(run.error or 'no detail recorded')}"]
        if run.error_code:
            lines.append(f"Error code: {clip(run.error_code)}")
        lines += [f"Failed in step {clip(s.name)}: {clip(s.error or run.error or '')}"
                  for s in source.steps if s.status == "failed"]  # fmt: skip
    if source.summary:
        lines.append(clip(source.summary))
    processed = f"{run.processed:,} processed, {run.skipped:,} skipped"
    lines.append(processed + (f" of {run.total:,}." if run.total is not None else "."))
    return Outcome(True, ended, tuple(dict.fromkeys(lines)))  # the message may be the error


def _step_row(step: RunStep) -> StepRow:
    return StepRow(
        name=clip(step.name),
        status=step.status,
        said=STEP_STATUS.get(step.status, step.status),
        started=utc_text(step.started_at),
        took=duration_text(seconds_between(step.started_at, step.finished_at)),
        processed=count_text(step.processed),
        skipped=count_text(step.skipped),
        total=count_text(step.total),
        error=clip(step.error or ""),
    )


def _sections(source: Source) -> tuple[Section, ...]:
    """The kind's sections of a completed run, or its result as a table of its keys (the
    kind's sentence is in the outcome)."""
    run = source.run
    if run.status != "completed":
        return ()
    if source.sections is not None:
        return tuple(drawn(section, source.base_url) for section in source.sections)
    result: dict[str, Any] = run.result or {}
    facts = tuple((str(k), value_text(v)) for k, v in sorted(result.items()))
    said = () if facts else ("The run returned no result.",)
    return (drawn(ReportSection("Result", facts=facts, paragraphs=said), source.base_url),)
