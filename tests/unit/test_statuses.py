"""Run statuses, the allowed transitions, and the terminal event of each end state."""

from __future__ import annotations

import itertools

import pytest

from progress_sse.runs.statuses import (
    ACTIVE_STATUSES,
    TERMINAL_EVENT_FOR,
    TERMINAL_STATUSES,
    EventName,
    RunStatus,
    can_transition,
)

ALLOWED = {
    (RunStatus.PENDING, RunStatus.RUNNING),
    (RunStatus.PENDING, RunStatus.CANCELLED),
    (RunStatus.PENDING, RunStatus.FAILED),
    (RunStatus.RUNNING, RunStatus.COMPLETED),
    (RunStatus.RUNNING, RunStatus.FAILED),
    (RunStatus.RUNNING, RunStatus.CANCELLED),
    (RunStatus.FAILED, RunStatus.PENDING),  # resume
    (RunStatus.CANCELLED, RunStatus.PENDING),  # resume
    (RunStatus.PENDING, RunStatus.PAUSED),  # paused before a worker took it
    (RunStatus.RUNNING, RunStatus.PAUSED),  # at a chunk's end
    (RunStatus.PAUSED, RunStatus.PENDING),  # resume: continue with the next chunk
    (RunStatus.PAUSED, RunStatus.RUNNING),  # a batch's own row continues
    (RunStatus.PAUSED, RunStatus.CANCELLED),
    (RunStatus.PAUSED, RunStatus.FAILED),  # an admin's reset
}


def test_terminal_and_active_statuses_partition_all_statuses() -> None:
    assert {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED} == TERMINAL_STATUSES
    assert {RunStatus.PENDING, RunStatus.RUNNING, RunStatus.PAUSED} == ACTIVE_STATUSES
    assert set(RunStatus) == TERMINAL_STATUSES | ACTIVE_STATUSES
    assert not TERMINAL_STATUSES & ACTIVE_STATUSES


@pytest.mark.parametrize("status", list(RunStatus))
def test_status_properties_match_the_sets(status: RunStatus) -> None:
    assert status.is_terminal is (status in TERMINAL_STATUSES)
    assert status.is_active is (status in ACTIVE_STATUSES)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(RunStatus, RunStatus)))
def test_only_the_documented_transitions_are_allowed(current: RunStatus, new: RunStatus) -> None:
    assert can_transition(current, new) is ((current, new) in ALLOWED)


def test_a_completed_run_never_changes_again() -> None:
    assert not any(can_transition(RunStatus.COMPLETED, s) for s in RunStatus)


def test_each_terminal_status_has_its_terminal_event() -> None:
    assert TERMINAL_EVENT_FOR == {
        RunStatus.COMPLETED: EventName.COMPLETE,
        RunStatus.FAILED: EventName.ERROR,
        RunStatus.CANCELLED: EventName.CANCELLED,
    }


def test_wire_names_are_the_contract_strings() -> None:
    assert [s.value for s in RunStatus] == [
        "pending",
        "running",
        "paused",
        "completed",
        "failed",
        "cancelled",
    ]
    assert [e.value for e in EventName] == ["complete", "error", "cancelled", "end"]
