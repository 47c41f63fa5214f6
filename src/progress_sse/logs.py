"""Logging: readable by default, JSON when configured; a job's lines carry its run and tenant.

The runner sets `CURRENT_RUN` in each run's task, and the filter copies it
onto every record logged from that task, by the job's own loggers too, so a
line can always be traced to its run without the job passing ids around.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

CURRENT_RUN: ContextVar[tuple[str, str] | None] = ContextVar("progress_sse_run", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RunContext(logging.Filter):
    """Adds `run_id` and `tenant` (None outside a run) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = CURRENT_RUN.get()
        if getattr(record, "run_id", None) is None:
            record.run_id = current[0] if current else None
        if getattr(record, "tenant", None) is None:
            record.tenant = current[1] if current else None
        return True


class Readable(logging.Formatter):
    """The plain line, then `[run … tenant …]` when the line belongs to a run."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        run_id = getattr(record, "run_id", None)
        if run_id:
            head, sep, tail = line.partition("\n")  # keep a traceback below the line
            line = f"{head} [run {run_id} tenant {getattr(record, 'tenant', None)}]{sep}{tail}"
        return line


def formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(run_id)s %(tenant)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return Readable(TEXT_FORMAT)


def setup_logging(level: str, fmt: str = "text") -> None:
    """One handler on the root logger (uvicorn's loggers propagate to it)."""
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(fmt))
    handler.addFilter(RunContext())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
