"""The timeline of a run's report: its step changes and endings, from the stored events (pure).

A run may have many thousands of progress events; a report keeps the ones that
change something a reader follows (a step starts, ends or fails; the run is
queued again, paused or ends) and counts the ticks between them. A run with
more changes than a page holds keeps the first and the last, and says how many
are left out: the run log has every event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from progress_sse.runs.events import RunEvent
from progress_sse.web.report.text import clip, utc_from_iso

HEAD, TAIL = 400, 100  # changes kept from the start and from the end of a long run
STEP_WORDS = {"in_progress": "started", "completed": "done", "failed": "failed",
              "skipped": "skipped", "pending": "waiting"}  # fmt: skip
RUN_WORDS = {"pending": "queued", "running": "running", "paused": "paused"}
END_WORDS = {"complete": "completed", "error": "failed", "cancelled": "cancelled"}


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the timeline, as text."""

    seq: int
    at: str  # UTC, the zone written out
    step: str
    what: str
    done: str  # "42.0 %"
    message: str
    ending: bool = False  # the run's terminal event


@dataclass
class Timeline:
    """Fed the run's events in order (page after page); keeps its changes, bounded."""

    head_size: int = HEAD
    tail_size: int = TAIL
    head: list[Change] = field(default_factory=list)
    tail: deque[Change] = field(init=False)
    left_out: int = 0  # changes dropped between head and tail
    ticks: int = 0  # progress events that changed nothing a reader follows
    _last_step: tuple[int, str] | None = None
    _last_status: str | None = None

    def __post_init__(self) -> None:
        self.tail = deque(maxlen=self.tail_size)

    def add(self, event: RunEvent) -> None:
        change = self._change(event)
        if change is None:
            self.ticks += 1
        elif len(self.head) < self.head_size:
            self.head.append(change)
        else:
            if len(self.tail) == self.tail.maxlen:
                self.left_out += 1
            self.tail.append(change)

    def add_all(self, events: list[RunEvent]) -> None:
        for event in events:
            self.add(event)

    @property
    def changes(self) -> list[Change]:
        return [*self.head, *self.tail]

    def _change(self, event: RunEvent) -> Change | None:
        data: dict[str, Any] = dict(event.data)
        if event.event is not None:
            what = END_WORDS.get(event.event.value)
            if what is None:
                return None
            return self._line(event.seq, data, "", f"run {what}", ending=True)
        step, status = data.get("step"), str(data.get("status", ""))
        key = (int(step["index"]), str(step["status"])) if isinstance(step, dict) else None
        step_changed = key is not None and key != self._last_step
        status_changed = status != self._last_status
        if key is not None:
            self._last_step = key
        self._last_status = status
        if step_changed and isinstance(step, dict):
            name, said = str(step.get("name", "")), STEP_WORDS.get(key[1] if key else "", "")
            return self._line(event.seq, data, name, said or str(step.get("status", "")))
        if status_changed:
            return self._line(event.seq, data, "", f"run {RUN_WORDS.get(status, status)}")
        return None

    @staticmethod
    def _line(seq: int, data: dict[str, Any], step: str, what: str, ending: bool = False) -> Change:
        percentage = data.get("percentage")
        done = f"{float(percentage):.1f} %" if isinstance(percentage, int | float) else ""
        return Change(
            seq=seq, at=utc_from_iso(data.get("ts")), step=clip(step), what=what, done=done,
            message=clip(str(data.get("message") or "")), ending=ending,
        )  # fmt: skip

    def sentence(self) -> str:
        """What the timeline leaves out, in words ("" when nothing)."""
        parts = []
        if self.left_out:
            parts.append(
                f"{self.left_out:,} step changes in the middle of this long run are left out "
                f"(the first {len(self.head):,} and the last {len(self.tail):,} are shown)."
            )
        if self.ticks:
            updates = "1 progress update" if self.ticks == 1 else f"{self.ticks:,} progress updates"
            parts.append(f"{updates} between these changes {'is' if self.ticks == 1 else 'are'} "
                         "not listed.")  # fmt: skip
        if parts:
            parts.append("The run log has every event.")
        return " ".join(parts)
