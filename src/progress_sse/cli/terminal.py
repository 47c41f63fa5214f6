"""What the command line prints: Rich tables and a live bar in a terminal, plain lines when
piped, JSON lines with `--json`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "pending": "dim",
    "paused": "magenta",
    "in_progress": "cyan",
    "skipped": "dim",
}


def interactive() -> bool:
    return sys.stdout.isatty()


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def cell(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


WHOLE = ("id", "run", "run_id")  # columns never shortened: an id cut short finds nothing
FREE_TEXT = ("message", "error", "name", "description", "url", "last_error", "reason")  # wrap
GIVES_WAY = ("started", "duration", "created", "last used", "time")  # go when nothing fits
LEAVE_OUT = (FREE_TEXT, GIVES_WAY)  # what goes first when a table is too wide


def grid(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    width: int | None = None,
    leave_out: Sequence[Sequence[str]] = LEAVE_OUT,
) -> Table:
    """The Rich table. Ids are always whole and short columns never break; free text wraps.
    When the table cannot fit `width`, the columns of `leave_out` go, group by group and
    each group's last first (by default free text, then times): a narrow terminal shows
    fewer columns, never broken ones. Cell text is shown as typed, never read as markup."""
    values = [[cell(v) for v in row] for row in rows]
    keep = list(range(len(columns)))

    def needed(kept: list[int]) -> int:  # the widest cell of each column, plus the borders
        fixed = [max([len(columns[i]), *(len(r[i]) for r in values)]) for i in kept
                 if columns[i] not in FREE_TEXT]  # fmt: skip
        free = [12 for i in kept if columns[i] in FREE_TEXT]
        return sum(fixed) + sum(free) + 3 * len(kept) + 1

    for optional in leave_out:
        while width is not None and needed(keep) > width:
            dropped = next((i for i in reversed(keep) if columns[i] in optional), None)
            if dropped is None:
                break
            keep.remove(dropped)
    shown = Table(title=escape(title), title_justify="left")
    for i in keep:
        if columns[i] in FREE_TEXT:
            shown.add_column(columns[i], overflow="fold", ratio=1)
        else:
            widest = max([len(columns[i]), *(len(row[i]) for row in values)])
            shown.add_column(columns[i], no_wrap=True, min_width=widest)
    for row in values:
        shown.add_row(*(
            f"[{STATUS_STYLE[row[i]]}]{row[i]}[/]" if row[i] in STATUS_STYLE else escape(row[i])
            for i in keep
        ))  # fmt: skip
    return shown


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    leave_out: Sequence[Sequence[str]] = LEAVE_OUT,
) -> None:
    """A Rich table in a terminal; tab-separated lines (header first) when piped."""
    if not interactive():
        sys.stdout.write("\t".join(columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join(cell(v) for v in row) + "\n")
        return
    console = Console()
    console.print(grid(title, columns, rows, width=console.width, leave_out=leave_out))


def summary_lines(result: dict[str, Any] | None) -> list[str]:
    """A completed run's result, a line per field: what the job says it did."""
    lines = []
    for key, value in (result or {}).items():
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        lines.append(f"  {key.replace('_', ' ')}: {cell(value)}")
    return lines


def tally(counts: dict[str, int]) -> str:
    """A batch's counts in a few words: `1/3 ok, 1 failed, 1 skipped` (what is 0 is left out)."""
    said = [f"{counts.get('succeeded', 0)}/{sum(counts.values())} ok"]
    said += [
        f"{counts[state]} {state}"
        for state in ("failed", "cancelled", "skipped", "running", "pending")
        if counts.get(state)
    ]
    return ", ".join(said)


def line(text: str) -> None:
    sys.stdout.write(text + "\n")


class LiveBar:
    """The run's bar while watching: step, percentage, message, rate and ETA. A batch's
    events name the child that moved as the step, and its counts stand for the rate."""

    def __init__(self, run_id: str, enabled: bool) -> None:
        self.run_id = run_id
        self.enabled = enabled
        self.progress: Progress | None = None
        self.task: TaskID | None = None
        self.last_step: tuple[str, str] | None = None

    def __enter__(self) -> LiveBar:
        if self.enabled:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>5.1f}%"),
                TextColumn("{task.fields[message]}"),
                TextColumn("[dim]{task.fields[speed]}"),
                transient=False,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.run_id, total=100, message="", speed="")
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, data: dict[str, Any]) -> None:
        step = data.get("step") or {}
        speed = ""
        if data.get("rate"):
            speed = f"{data['rate']:,.0f}/s"
            if data.get("eta_s") is not None:
                speed += f", about {data['eta_s']:.0f} s left"
        if data.get("counts"):
            speed = tally(data["counts"])
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task,
                completed=float(data.get("percentage") or 0),
                description=escape(step.get("name") or self.run_id),
                message=escape(str(data.get("message") or "")[:60]),
                speed=speed,
            )
            return
        key = (str(step.get("name", "")), str(step.get("status", "")))
        if key != self.last_step:  # piped: one line per step change, not per tick
            self.last_step = key
            done = float(data.get("percentage") or 0)
            where = f" {key[0]} {key[1]}:" if key[0] else ""  # before the first step: no step
            line(f"{done:5.1f}%{where} {data.get('message', '')}")

    def warn(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(f"[yellow]{text}[/]")
        else:
            sys.stderr.write(text + "\n")
