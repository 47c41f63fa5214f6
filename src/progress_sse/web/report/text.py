"""How a report writes times, durations and values (pure).

Times are UTC with the zone written out: the server cannot know the zone of
whoever prints the page. Values are text as stored (money stays the exact
decimal string a result holds), clipped so one huge value cannot fill a book.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

CELL_LIMIT = 2_000  # characters of one value shown; the API has the rest


def utc_text(moment: datetime | None) -> str:
    """`2026-11-30 14:06:19 UTC`, or an em dash for a moment that has not happened."""
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def utc_from_iso(stamp: object) -> str:
    """An event's ISO 8601 `ts` as `utc_text` writes it; anything else as an em dash."""
    if not isinstance(stamp, str):
        return "—"
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return "—"
    return utc_text(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def duration_text(seconds: float | None) -> str:
    """`850 ms`, `12.4 s`, `4 min 05 s`, `2 h 03 min`, `3 d 04 h`; an em dash when unknown."""
    if seconds is None or seconds < 0:
        return "—"
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours:02d} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s"


def clip(text: str, limit: int = CELL_LIMIT) -> str:
    """`text`, or its first `limit` characters and how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


def value_text(value: Any) -> str:
    """A JSON value as one cell: text as it is, numbers and the rest as JSON, clipped."""
    if isinstance(value, str):
        return clip(value)
    if value is None:
        return "—"
    return clip(json.dumps(value, ensure_ascii=False, sort_keys=True))


def count_text(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
