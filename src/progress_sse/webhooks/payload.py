"""What a webhook receives, and how it proves where it came from (pure functions).

The body is compact JSON, fixed when the outbox row is written, so every
attempt sends identical bytes. `X-Progress-SSE-Signature: sha256=<hex>` is the
HMAC-SHA256 of exactly those bytes with the endpoint's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any, cast

from progress_sse.runs.events import dumps, iso, iso_or_none
from progress_sse.runs.models import BATCH_KIND
from progress_sse.runs.statuses import RunStatus
from progress_sse.wire import RunStatusName, WebhookEventName, WebhookJson, WebhookRunJson

EVENTS = ("complete", "error", "cancelled", "stale")
SIGNATURE_HEADER = "X-Progress-SSE-Signature"
DELIVERY_HEADER = "X-Progress-SSE-Delivery"
EVENT_HEADER = "X-Progress-SSE-Event"


def webhook_event(status: RunStatus, error_code: str | None) -> str:
    """The subscription a terminal state belongs to; a dead worker's run is its own event
    (`stale`: its heartbeats stopped, or `worker_lost`: its process was seen gone)."""
    if status is RunStatus.COMPLETED:
        return "complete"
    if status is RunStatus.CANCELLED:
        return "cancelled"
    return "stale" if error_code in DEAD_WORKER else "error"


DEAD_WORKER = frozenset({"stale", "worker_lost"})


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def body(
    *,
    delivery_id: str,
    event: str,
    run: WebhookRunJson,
    created_at: datetime,
) -> str:
    """The notification: who, what happened, the summary or the error, and when."""
    notification: WebhookJson = {
        "delivery_id": delivery_id,
        "event": cast(WebhookEventName, event),
        "created_at": iso(created_at),
        "run": run,
    }
    return dumps(notification)


def run_summary(
    *,
    run_id: str,
    tenant_id: str,
    kind: str,
    status: str,
    message: str,
    error: str | None,
    error_code: str | None,
    result: dict[str, Any] | None,
    created_at: datetime,
    started_at: datetime | None,
    finished_at: datetime,
) -> WebhookRunJson:
    return {
        "id": run_id,
        "tenant": tenant_id,
        "kind": kind,
        "status": cast(RunStatusName, status),
        "message": message,
        "result": result,
        "error": error,
        "error_code": error_code,
        "created_at": iso(created_at),
        "started_at": iso_or_none(started_at),
        "finished_at": iso(finished_at),
        "url": f"/api/batches/{run_id}" if kind == BATCH_KIND else f"/api/runs/{run_id}",
    }


def sign(secret: str, payload: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()


def verify(secret: str, payload: bytes, header: str) -> bool:
    """What a receiver does: recompute and compare in constant time."""
    return hmac.compare_digest(sign(secret, payload), header)
