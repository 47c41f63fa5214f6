"""One log line per request, with nothing secret in it.

uvicorn's own access log prints the raw query string, so an API key pasted
into a URL (which we refuse) would still land in the log. This middleware
replaces it: method, path, query names with their values redacted unless they
are known harmless, status, and duration. It never logs headers or cookies.
Every field taken from the request is escaped (`logs.escape_request_text`), so a
`%0A` in a path cannot start a forged line.
"""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from progress_sse.ops.logs import escape_request_text

log = logging.getLogger("progress_sse.access")

# Query parameters whose values are safe and useful to read in a log.
SHOWN = frozenset({"limit", "status", "kind", "format", "cursor", "after_code", "last_event_id"})
MAX_PATH = 200


def redact_query(query: str) -> str:
    """`a=1&api_key=secret` -> `a=1&api_key=***` (only SHOWN names keep their values)."""
    parts = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        shown = value if name in SHOWN and len(value) <= 64 else "***"
        parts.append(f"{name[:32]}={shown}")
    return "&".join(parts)


def request_line(method: str, path: str, query: bytes) -> str:
    """`GET /api/runs?limit=5`, cut and redacted, with every control character escaped."""
    path = path if len(path) <= MAX_PATH else path[:MAX_PATH] + "…"  # cut before escaping
    text = query.decode("latin-1")
    return escape_request_text(f"{method} {path}" + (f"?{redact_query(text)}" if text else ""))


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            log_request(scope, status, started)


def log_request(scope: Scope, status: int, started: float) -> None:
    """The access line of one request: `started` is its `time.perf_counter()` on arrival.

    Also written by the event streams' own way in (web/streamfront.py), when a stream ends.
    """
    client = scope.get("client")
    log.info(
        "%s %s %d %.1fms",
        escape_request_text(client[0]) if client else "-",  # from X-Forwarded-For, maybe
        request_line(scope["method"], scope["path"], scope.get("query_string", b"")),
        status,
        (time.perf_counter() - started) * 1000,
    )
