"""What the commands that work through a server's API share (`runs …`, `batches …`): their
options, one error line instead of a traceback, paging through a list, and the watch loop.

Exit codes: 0 done (for `watch`: it completed), 1 an error (one line on stderr), 2 bad
usage, 3 the watched run or batch failed, 4 it was cancelled.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer

from progress_sse.cli import terminal
from progress_sse.cli.client import Api, ApiError
from progress_sse.cli.terminal import emit_json, line

EXIT_FAILED, EXIT_CANCELLED = 3, 4
ServerUrl = Annotated[
    str, typer.Option(envvar="PROGRESS_SSE_URL", help="the server, e.g. http://127.0.0.1:8000")
]
ApiKey = Annotated[str, typer.Option(envvar="PROGRESS_SSE_API_KEY", help="an API key")]
Json = Annotated[bool, typer.Option("--json", help="machine-readable output")]
DEFAULT_URL = "http://127.0.0.1:8000"

# A stream's terminal event: what the outcome line says, and the exit code of `watch`.
ENDED = {"complete": "completed", "error": "failed", "cancelled": "cancelled"}
EXIT_CODE = {"complete": 0, "error": EXIT_FAILED, "cancelled": EXIT_CANCELLED}


@contextmanager
def api_errors() -> Iterator[None]:
    """An API or network failure is one line on stderr and exit code 1, never a traceback."""
    try:
        yield
    except ApiError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(code=1) from None


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    parse: Callable[[str], datetime] = lambda t: datetime.fromisoformat(t.replace("Z", "+00:00"))  # noqa: E731
    return (parse(end) - parse(start)).total_seconds()


def when(timestamp: str | None) -> str | None:
    """`2026-11-30T18:10:49.123456Z` as `2026-11-30 18:10 UTC`: a table's time, to the minute
    (`--json` has the exact one)."""
    return f"{timestamp[:10]} {timestamp[11:16]} UTC" if timestamp else None


def listed(
    api: Api, path: str, query: dict[str, Any], *, every: bool, limit: int, page_max: int
) -> list[dict[str, Any]]:
    """A list route's items, newest first: one page of `limit`, or (`every`) all of them,
    page after page of `page_max` (the route's largest)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        asked = {**query, "limit": page_max if every else limit, "cursor": cursor}
        page = api.call("GET", path, params={k: v for k, v in asked.items() if v})
        items += page["data"]
        cursor = page.get("next_cursor")
        if not every or not cursor:
            return items


def watch_stream(
    api: Api, an_id: str, as_json: bool, collection: str = "runs"
) -> tuple[str, dict[str, Any]]:
    """Follow a run's (or batch's) stream to its end: a live bar (a line per step when
    piped) and the outcome line, or every event as a JSON line. Its terminal event."""
    outcome: tuple[str, dict[str, Any]] | None = None
    with terminal.LiveBar(an_id, enabled=terminal.interactive() and not as_json) as bar:
        warn = lambda exc: bar.warn(f"connection lost ({type(exc).__name__}); reconnecting…")  # noqa: E731
        for event in api.follow(an_id, on_drop=warn, collection=collection):
            data = json.loads(event.data) if event.data else {}
            if as_json:
                emit_json({"id": event.id or None, "event": event.event, "data": data})
            if event.event == "message":
                if not as_json:
                    bar.update(data)
            elif event.event in ENDED:
                outcome = (event.event, data)
                if not as_json and bar.enabled:
                    bar.update(data)
    if outcome is None:
        raise ApiError(f"the stream of {an_id} ended without an outcome")
    if not as_json:
        line(f"{ENDED[outcome[0]]}: {outcome[1].get('message', '')}")
    return outcome


def post_action(url: str, key: str, path: str, as_json: bool, say: Callable[[Any], str]) -> None:
    """POST an action (cancel, resume) and show what it answered: its JSON, or `say(it)`."""
    with api_errors():
        data = Api(url, key).call("POST", path)["data"]
    if as_json:
        emit_json(data)
    else:
        line(say(data))
