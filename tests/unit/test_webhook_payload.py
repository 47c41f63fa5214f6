"""The webhook body, its signature, and which answers are worth another try."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from progress_sse.runs.statuses import RunStatus
from progress_sse.webhooks.delivery import RetryPolicy, outcome
from progress_sse.webhooks.payload import body, sign, verify, webhook_event


def test_the_signature_is_hmac_sha256_of_the_exact_body() -> None:
    payload = b'{"delivery_id":"d1"}'
    expected = hmac.new(b"s3cret", payload, hashlib.sha256).hexdigest()
    assert sign("s3cret", payload) == f"sha256={expected}"
    assert verify("s3cret", payload, f"sha256={expected}")
    assert not verify("s3cret", payload + b" ", f"sha256={expected}"), "one byte changed"
    assert not verify("other", payload, f"sha256={expected}")


@pytest.mark.parametrize(
    ("status", "code", "event"),
    [
        (RunStatus.COMPLETED, None, "complete"),
        (RunStatus.FAILED, "demo_failure", "error"),
        (RunStatus.FAILED, "stale", "stale"),
        (RunStatus.FAILED, "worker_lost", "stale"),  # its process was seen gone
        (RunStatus.CANCELLED, "cancelled", "cancelled"),
    ],
)
def test_each_ending_maps_to_one_subscription(
    status: RunStatus, code: str | None, event: str
) -> None:
    assert webhook_event(status, code) == event


def test_the_body_is_compact_ascii_json_with_the_delivery_id() -> None:
    text = body(
        delivery_id="d1",
        event="error",
        run={"id": "r1", "message": "Zeile 3: ungültig\u2028"},
        created_at=datetime(2026, 11, 30, 23, 59, tzinfo=UTC),
    )
    assert text.isascii() and "\n" not in text
    assert json.loads(text) == {
        "delivery_id": "d1",
        "event": "error",
        "created_at": "2026-11-30T23:59:00.000000Z",
        "run": {"id": "r1", "message": "Zeile 3: ungültig\u2028"},
    }


@pytest.mark.parametrize(
    ("status_code", "verdict"),
    [
        (200, None),
        (204, None),
        (301, "final"),
        (400, "final"),
        (401, "final"),
        (404, "final"),
        (429, "retry"),
        (500, "retry"),
        (503, "retry"),
    ],
)
def test_only_429_and_5xx_are_retried(status_code: int, verdict: str | None) -> None:
    failure = outcome(status_code)
    if verdict is None:
        assert failure is None
    else:
        assert failure is not None and failure.retryable is (verdict == "retry")
        assert failure.status_code == status_code


def test_the_default_policy_waits_about_2_4_8_seconds_and_leases_long_enough() -> None:
    policy = RetryPolicy()
    assert policy.attempts == 4 and policy.backoff_s == 2.0
    assert policy.lease.total_seconds() > policy.timeout_s + policy.max_backoff_s
