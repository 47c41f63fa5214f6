"""What the command line prints: Rich tables and a live bar in a terminal, plain lines when
piped, JSON lines with `--json`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from rich.table import Table

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "yellow",
    "running": "cyan",
    "pending": "dim",
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


def grid(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """The Rich table: ids always whole, the other columns wrap to fit the terminal."""
    values = [[cell(v) for v in row] for row in rows]
    shown = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        if name in WHOLE:
            widest = max([len(name), *(len(row[i]) for row in values)])
            shown.add_column(name, no_wrap=True, min_width=widest)
        else:
            shown.add_column(name, overflow="fold")
    for row in values:
        shown.add_row(*(f"[{STATUS_STYLE[v]}]{v}[/]" if v in STATUS_STYLE else v for v in row))
    return shown


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A Rich table in a terminal; tab-separated lines (header first) when piped."""
    if not interactive():
        sys.stdout.write("\t".join(columns) + "\n")
        for row in rows:
            sys.stdout.write("\t".join(cell(v) for v in row) + "\n")
        return
    Console().print(grid(title, columns, rows))


def summary_lines(result: dict[str, Any] | None) -> list[str]:
    """A completed run's result, a line per field: what the job says it did."""
    lines = []
    for key, value in (result or {}).items():
        if isinstance(value, dict | list):
            value = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        lines.append(f"  {key.replace('_', ' ')}: {cell(value)}")
    return lines


def line(text: str) -> None:
    sys.stdout.write(text + "\n")


class LiveBar:
    """The run's bar while watching: step, percentage, message, rate and ETA."""

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
        if self.progress is not None and self.task is not None:
            self.progress.update(
                self.task,
                completed=float(data.get("percentage") or 0),
                description=step.get("name") or self.run_id,
                message=str(data.get("message") or "")[:60],
                speed=speed,
            )
            return
        key = (str(step.get("name", "")), str(step.get("status", "")))
        if key != self.last_step:  # piped: one line per step change, not per tick
            self.last_step = key
            done = float(data.get("percentage") or 0)
            line(f"{done:5.1f}% {key[0]} {key[1]}: {data.get('message', '')}")

    def warn(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(f"[yellow]{text}[/]")
        else:
            sys.stderr.write(text + "\n")
