"""What a kind adds to a run's printable report (pure values; docs/writing-a-job.md).

A kind's `report(result, params)` returns `ReportSection`s; the engine draws
them in the report of a completed run (`GET /api/runs/{id}/report`) under the
parts every run has (who, when, parameters, steps, timeline, outcome). Every
text is escaped when drawn, so a kind passes plain text, never HTML.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReportLink:
    """A link the report shows with its URL: `path` is relative to the service's root
    (`api/depreciation/2026/11?format=csv`), so it follows the service wherever it is mounted."""

    label: str
    path: str


@dataclass(frozen=True, slots=True)
class ReportTable:
    """A table of text cells; the columns in `numeric` are right-aligned (amounts, counts),
    and `total` is a last row set apart."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[int, ...] = ()
    caption: str = ""
    total: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReportSection:
    """One headed part of a report: facts (label, value), paragraphs, tables, then links."""

    title: str
    facts: tuple[tuple[str, str], ...] = ()
    paragraphs: tuple[str, ...] = ()
    tables: tuple[ReportTable, ...] = ()
    links: tuple[ReportLink, ...] = ()
