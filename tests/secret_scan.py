"""Finds API keys and session cookies in log output (the suite's last check).

Every log record of the test session passes through `SecretScan`; the log files of
the server processes the tests start are scanned at the end. Only log lines count:
`serve --demo` prints its key on purpose, as a bare line, once.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

SECRETS = (
    re.compile(r"pss_[A-Za-z0-9_-]{40,}"),  # an API key (pss_ + 43 characters)
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}"),  # a session
)
# A log line: `[time ]LEVEL logger: …` as text, or one JSON object.
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d [\d:,.]+ )?(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b|^\{")


def secrets_in(text: str) -> list[str]:
    return [m.group(0) for pattern in SECRETS for m in pattern.finditer(text)]


class SecretScan(logging.Handler):
    """Counts every record and keeps those that carry a secret."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records = 0
        self.access_lines = 0
        self.leaks: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)  # with the traceback, if any
        self.records += 1
        self.access_lines += record.name == "progress_sse.access"
        if secrets_in(text):
            self.leaks.append(text[:500])


def leaks_in_files(folder: Path) -> list[str]:
    """Log lines with a secret in the `*.log` files under `folder` (server processes)."""
    found = []
    for path in folder.rglob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if LOG_LINE.match(line) and secrets_in(line):
                found.append(f"{path.name}: {line[:500]}")
    return found
