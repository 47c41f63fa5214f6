"""The NOTIFY payload sent with a run's committed events (pure: no I/O).

`run_id:seq:origin` names the run, the seq of the newest event the
transaction wrote and the writing process; when the events fit, they follow
as `:` and a JSON array of `[seq, event name or null, data]`, oldest first.
A listener delivers the carried events without reading the table; one that
cannot (a payload without events, a gap before them, anything malformed)
reads the events after what it delivered from the table, which is the truth
either way. NOTIFY is delivered only after COMMIT, so an event carried here
is already stored. docs/architecture.md says why (the table read was the
largest share of cross-process latency).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from progress_sse.runs.events import RunEvent, dumps
from progress_sse.runs.statuses import EventName

# PostgreSQL refuses a payload of 8,000 bytes or more ("payload string too long").
MAX_PAYLOAD_BYTES = 7999


@dataclass(frozen=True, slots=True)
class Notice:
    """One NOTIFY: events of `run_id` up to `seq` are committed; `events` may carry them."""

    run_id: str
    seq: int
    origin: str
    events: tuple[RunEvent, ...] = ()


def encode_notice(events: Sequence[RunEvent], origin: str, limit: int = MAX_PAYLOAD_BYTES) -> str:
    """The payload for one run's `events` (seq order): with the events if they fit, else a hint.

    Only the newest events that fit would leave a gap, so it is all or none;
    the JSON is ASCII (`ensure_ascii`), so its length is its size in bytes.
    """
    last = events[-1]
    hint = f"{last.run_id}:{last.seq}:{origin}"
    body = dumps([[e.seq, e.event.value if e.event else None, e.data] for e in events])
    if len(hint) + 1 + len(body) > limit or not hint.isascii():
        return hint
    return f"{hint}:{body}"


def decode_notice(payload: str) -> Notice | None:
    """A payload from `encode_notice` (or an older process's `run_id:seq[:origin]`); None
    if it is not one. Carried events that are malformed are dropped, not trusted: the
    notice is then a hint, and the listener reads the table."""
    run_id, _, rest = payload.partition(":")
    seq_text, _, rest = rest.partition(":")
    origin, _, body = rest.partition(":")
    if not run_id or not (seq_text.isascii() and seq_text.isdigit()):
        return None
    seq = int(seq_text)
    return Notice(run_id, seq, origin, _carried(run_id, seq, body) if body else ())


def merge_notices(notices: Sequence[Notice]) -> tuple[list[RunEvent], int]:
    """One run's notices, in the order they came -> the carried events that follow on from
    the first without a gap (up to the first notice that carries none), and the newest seq."""
    events: list[RunEvent] = []
    for notice in notices:
        if not notice.events or (events and notice.events[0].seq != events[-1].seq + 1):
            break
        events.extend(notice.events)
    return events, max(notice.seq for notice in notices)


def _carried(run_id: str, seq: int, body: str) -> tuple[RunEvent, ...]:
    """The events of `body`, if they are consecutive and end at `seq`; else none."""
    try:
        items = json.loads(body)
        events = tuple(
            RunEvent(run_id, s, EventName(name) if name is not None else None, data)
            for s, name, data in items
        )
    except (ValueError, TypeError):  # JSONDecodeError and an unknown name are ValueErrors
        return ()
    seqs = [e.seq for e in events]
    valid = (
        bool(events)
        and all(type(s) is int for s in seqs)
        and all(isinstance(e.data, dict) for e in events)
        and seqs == list(range(seq - len(seqs) + 1, seq + 1))
    )
    return events if valid else ()
