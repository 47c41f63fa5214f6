"""Logging: readable by default, JSON when configured; a job's lines carry its run and tenant.

The runner sets `CURRENT_RUN` in each run's task, and the filter copies it
onto every record logged from that task, by the job's own loggers too, so a
line can always be traced to its run without the job passing ids around.

A text log is one line per record, so no record may break a line: text that
comes from a request (a path with `%0A` in it) could otherwise plant a forged
line. `escape_controls` shows every control character as an escape; the
access log applies it to each request field, and the readable format applies
it to every message, whoever logged it. The JSON format escapes them already.
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

CURRENT_RUN: ContextVar[tuple[str, str] | None] = ContextVar("progress_sse_run", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# C0 controls (CR, LF, ESC, ...), DEL, C1 controls (NEL ends a line too) and the Unicode line
# and paragraph separators, which editors and log viewers also break lines at.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape_controls(text: str) -> str:
    """`text` kept on one line: each control character as its Python escape (`\\n`, `\\x1b`)."""
    return _CONTROL.sub(lambda match: ascii(match.group())[1:-1], text)


def escape_request_text(text: str) -> str:
    """Text a client sent, for a log line: a literal backslash doubled first, so a sent
    `\\n` (two characters) never reads like an escaped newline."""
    return escape_controls(text.replace("\\", "\\\\"))


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
    """The plain line, then `[run … tenant …]` when the line belongs to a run.

    The line itself never breaks (see `escape_controls`); a traceback follows it on lines
    of its own.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        return escape_controls(super().formatMessage(record))

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        run_id = getattr(record, "run_id", None)
        if run_id:
            head, sep, tail = line.partition("\n")  # keep a traceback below the line
            run = escape_controls(f"[run {run_id} tenant {getattr(record, 'tenant', None)}]")
            line = f"{head} {run}{sep}{tail}"
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
