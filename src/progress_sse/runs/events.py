"""The wire format of the event stream (pure: no I/O).

Every data object is JSON with `ensure_ascii=True`, so CR, LF, NUL, U+2028 and
any other control character can only ever appear escaped: no text a job or a
user supplies can start a new SSE field or event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from progress_sse.runs.statuses import EventName
from progress_sse.storage.text import scrub

_dumps = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode

PING = b": ping\n\n"
END = b"event: end\ndata: {}\n\n"


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(ts: datetime) -> str:
    """ISO 8601 UTC with microseconds and a `Z`, as the contract shows."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_or_none(ts: datetime | None) -> str | None:
    """`iso`, for a moment that may not have happened yet (`started_at`, say)."""
    return iso(ts) if ts is not None else None


def dumps(data: Any) -> str:
    return _dumps(data)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One persisted event of a run: `seq` is its SSE id."""

    run_id: str
    seq: int
    event: EventName | None  # None: a progress event
    data: Mapping[str, Any]  # a `wire.py` shape: progress or terminal
    # Encoded once per process, then written to every watcher as is.
    frame: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        frame = encode(self)
        if b"\\u0000" in frame:  # PostgreSQL stores no NUL: the stream shows what is stored
            object.__setattr__(self, "data", scrub(self.data))
            frame = encode(self)
        object.__setattr__(self, "frame", frame)

    @property
    def is_terminal(self) -> bool:
        return self.event in (EventName.COMPLETE, EventName.ERROR, EventName.CANCELLED)

    @property
    def step_key(self) -> tuple[int, str] | None:
        """(index, status) of the step this event reports, if any."""
        step = self.data.get("step")
        if not step:
            return None
        return (int(step["index"]), str(step["status"]))


def wire(events: Sequence[RunEvent]) -> bytes:
    """What a watcher is sent for `events` (in seq order): their frames, `end` after a terminal."""
    body = b"".join(event.frame for event in events)
    return body + END if events and events[-1].is_terminal else body


def retry_line(retry_ms: int) -> bytes:
    return f"retry: {int(retry_ms)}\n\n".encode()


def encode(event: RunEvent) -> bytes:
    """Frame one event; the data line is a single JSON line, so no splitting is needed."""
    head = f"id: {event.seq}\n"
    if event.event is not None:
        head += f"event: {event.event.value}\n"
    return (head + "data: " + _dumps(event.data) + "\n\n").encode("ascii")
