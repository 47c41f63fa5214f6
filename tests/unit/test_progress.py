"""Percentage ranges, rate and ETA, and the payloads of the wire contract."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from progress_sse.runs.progress import (
    StepSpec,
    StepState,
    clamp,
    progress_payload,
    rate_and_eta,
    step_percentage,
    terminal_payload,
    validate_steps,
)
from progress_sse.runs.statuses import RunStatus, StepStatus

TS = datetime(2026, 11, 22, 16, 40, 1, 123456, tzinfo=UTC)
PROCESS = StepSpec("process", 35, 90)


# -- validate_steps ---------------------------------------------------------


def test_contiguous_steps_covering_0_to_100_are_valid() -> None:
    validate_steps(
        [
            StepSpec("init", 0, 5),
            StepSpec("prepare", 5, 15),
            StepSpec("load", 15, 35),
            PROCESS,
            StepSpec("finalize", 90, 100),
        ]
    )


def test_gaps_and_zero_width_steps_are_valid() -> None:
    validate_steps([StepSpec("a", 10, 10), StepSpec("b", 20, 30)])
    validate_steps([])


def test_duplicate_step_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        validate_steps([StepSpec("a", 0, 50), StepSpec("a", 50, 100)])


@pytest.mark.parametrize(
    "spec", [StepSpec("a", -1, 10), StepSpec("a", 0, 101), StepSpec("a", 60, 40)]
)
def test_ranges_outside_0_100_or_backwards_are_rejected(spec: StepSpec) -> None:
    with pytest.raises(ValueError, match="outside 0-100"):
        validate_steps([spec])


def test_overlapping_steps_are_rejected() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        validate_steps([StepSpec("a", 0, 50), StepSpec("b", 49, 100)])


# -- clamp and step_percentage ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(-5, 0), (0, 0), (42.5, 42.5), (100, 100), (101, 100)]
)
def test_clamp_defaults_to_0_100(value: float, expected: float) -> None:
    assert clamp(value) == expected


def test_clamp_honours_custom_bounds() -> None:
    assert clamp(2.0, 0.0, 1.0) == 1.0
    assert clamp(-2.0, 0.0, 1.0) == 0.0


def test_step_percentage_maps_processed_over_total_into_the_range() -> None:
    assert step_percentage(PROCESS, processed=10, total=20) == 62.5
    assert step_percentage(PROCESS, processed=0, total=20) == 35
    assert step_percentage(PROCESS, processed=20, total=20) == 90


def test_step_percentage_by_fraction_wins_over_counts() -> None:
    assert step_percentage(PROCESS, processed=20, total=20, fraction=0.5) == 62.5


@pytest.mark.parametrize("total", [0, None])
def test_step_percentage_without_a_total_stays_at_the_start(total: int | None) -> None:
    assert step_percentage(PROCESS, processed=7, total=total) == 35


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"processed": 30, "total": 20}, 90),
        ({"processed": -3, "total": 20}, 35),
        ({"fraction": 1.7}, 90),
        ({"fraction": -0.2}, 35),
    ],
)
def test_step_percentage_is_clamped_to_the_step_range(
    kwargs: dict[str, int], expected: float
) -> None:
    assert step_percentage(PROCESS, **kwargs) == expected  # type: ignore[arg-type]


def test_step_percentage_is_rounded_to_two_decimals() -> None:
    assert step_percentage(StepSpec("a", 0, 100), processed=1, total=3) == 33.33


# -- rate_and_eta -----------------------------------------------------------


@pytest.mark.parametrize(("processed", "elapsed"), [(0, 5.0), (10, 0.0), (-1, 5.0), (10, -1.0)])
def test_no_rate_or_eta_before_anything_was_processed(processed: int, elapsed: float) -> None:
    assert rate_and_eta(processed, 100, elapsed) == (None, None)


def test_rate_is_items_per_second_and_eta_the_seconds_left() -> None:
    assert rate_and_eta(10, 20, 2.0) == (5.0, 2.0)


def test_rate_and_eta_are_rounded_to_one_decimal() -> None:
    assert rate_and_eta(1, 2, 3.0) == (0.3, 3.0)


def test_no_eta_without_a_total() -> None:
    assert rate_and_eta(10, None, 2.0) == (5.0, None)


def test_eta_is_never_negative_when_processed_passes_total() -> None:
    assert rate_and_eta(30, 20, 3.0) == (10.0, 0.0)


# -- payloads ---------------------------------------------------------------

PROGRESS_FIELDS = {
    "run_id",
    "seq",
    "status",
    "percentage",
    "message",
    "step",
    "processed",
    "skipped",
    "total",
    "rate",
    "eta_s",
    "ts",
}
TERMINAL_FIELDS = {
    "run_id",
    "seq",
    "success",
    "status",
    "percentage",
    "message",
    "records_processed",
    "ts",
}


def test_progress_payload_has_the_contract_fields() -> None:
    step = StepState(index=3, spec=PROCESS, status=StepStatus.IN_PROGRESS)
    data = progress_payload(
        run_id="r1",
        seq=17,
        status=RunStatus.RUNNING,
        percentage=62.5,
        message="m",
        step=step,
        processed=10,
        skipped=1,
        total=20,
        rate=812.4,
        eta_s=3.2,
        ts=TS,
    )
    assert set(data) == PROGRESS_FIELDS
    assert data["status"] == "running"
    assert data["step"] == {"index": 3, "name": "process", "status": "in_progress"}
    assert data["ts"] == "2026-11-22T16:40:01.123456Z"
    assert (data["seq"], data["processed"], data["total"]) == (17, 10, 20)


def test_progress_payload_without_a_step_sends_null() -> None:
    data = progress_payload(
        run_id="r1",
        seq=1,
        status=RunStatus.PENDING,
        percentage=0,
        message="",
        step=None,
        processed=0,
        skipped=0,
        total=None,
        rate=None,
        eta_s=None,
        ts=TS,
    )
    assert data["step"] is None


def test_complete_payload_is_success_with_result_and_no_error_code() -> None:
    data = terminal_payload(
        run_id="r1",
        seq=42,
        status=RunStatus.COMPLETED,
        percentage=100,
        message="done",
        processed=20,
        error_code=None,
        result={"items": 20},
        ts=TS,
    )
    assert set(data) == TERMINAL_FIELDS | {"result"}
    assert data["success"] is True
    assert data["status"] == "completed"
    assert data["result"] == {"items": 20}
    assert data["records_processed"] == 20


@pytest.mark.parametrize("status", [RunStatus.FAILED, RunStatus.CANCELLED])
def test_error_and_cancelled_payloads_are_failures_with_an_error_code(status: RunStatus) -> None:
    data = terminal_payload(
        run_id="r1",
        seq=42,
        status=status,
        percentage=40,
        message="stopped",
        processed=8,
        error_code="stale",
        result={"ignored": True},
        ts=TS,
    )
    assert set(data) == TERMINAL_FIELDS | {"error_code"}
    assert data["success"] is False
    assert data["status"] == status.value
    assert data["error_code"] == "stale"


def test_step_state_row_names_every_column() -> None:
    row = StepState(index=1, spec=PROCESS, processed=4, total=9).as_row()
    assert row["name"] == "process"
    assert (row["pct_start"], row["pct_end"]) == (35, 90)
    assert row["status"] == "pending"
    assert (row["processed"], row["total"]) == (4, 9)
