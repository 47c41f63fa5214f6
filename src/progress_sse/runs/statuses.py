"""Run and step statuses, event names, and the allowed transitions (pure)."""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"  # stopped at a safe point, holding nothing; continues when resumed
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self in ACTIVE_STATUSES


class StepStatus(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


class EventName(StrEnum):
    """Named SSE events; progress events have no name (`onmessage` gets them)."""

    COMPLETE = "complete"
    ERROR = "error"
    CANCELLED = "cancelled"
    END = "end"


TERMINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
# Active: not ended. A paused run keeps its lock key, so nothing else starts the same work.
ACTIVE_STATUSES = frozenset({RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED})

_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.PENDING: frozenset(
        {RunStatus.RUNNING, RunStatus.PAUSED, RunStatus.CANCELLED, RunStatus.FAILED}
    ),
    RunStatus.RUNNING: frozenset({*TERMINAL_STATUSES, RunStatus.PAUSED}),
    # Continuing queues it again (a batch's own row goes straight back to running).
    RunStatus.PAUSED: frozenset(
        {RunStatus.PENDING, RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.FAILED}
    ),
    RunStatus.COMPLETED: frozenset(),
    # A resumable failed or cancelled run may be queued again (resume).
    RunStatus.FAILED: frozenset({RunStatus.PENDING}),
    RunStatus.CANCELLED: frozenset({RunStatus.PENDING}),
}


def can_transition(current: RunStatus, new: RunStatus) -> bool:
    return new in _TRANSITIONS[current]


TERMINAL_EVENT_FOR: dict[RunStatus, EventName] = {
    RunStatus.COMPLETED: EventName.COMPLETE,
    RunStatus.FAILED: EventName.ERROR,
    RunStatus.CANCELLED: EventName.CANCELLED,
}
