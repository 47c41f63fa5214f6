"""The JSON shapes of the wire contract, typed: what a browser, the CLI and a webhook
receiver read. `docs/stream-contract.md` and `docs/api.md` show each one, and the
suite checks those examples against these types (tests/unit/test_wire_docs.py).

Timestamps are ISO 8601 UTC strings with a `Z`; percentages are 0-100.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

RunStatusName = Literal["pending", "running", "paused", "completed", "failed", "cancelled"]
StepStatusName = Literal["pending", "in_progress", "completed", "failed", "skipped"]
WebhookEventName = Literal["complete", "error", "cancelled", "stale"]
ChildStatusName = Literal["pending", "running", "succeeded", "failed", "cancelled", "skipped"]


class StepRefJson(TypedDict):
    """The step a progress event reports."""

    index: int
    name: str
    status: StepStatusName


class ProgressEventJson(TypedDict):
    """The data of an unnamed SSE event: the newest state of a running run."""

    run_id: str
    seq: int
    status: RunStatusName
    percentage: float
    message: str
    step: StepRefJson | None
    processed: int
    skipped: int
    total: int | None
    rate: float | None  # items per second in the current step
    eta_s: float | None
    ts: str


class TerminalEventJson(TypedDict):
    """The data of a `complete`, `error` or `cancelled` event; `end` follows it."""

    run_id: str
    seq: int
    success: bool
    status: RunStatusName
    percentage: float
    message: str
    records_processed: int
    ts: str
    result: NotRequired[dict[str, Any] | None]  # `complete` only: the job's summary
    error_code: NotRequired[str | None]  # `error` and `cancelled` only


class StepJson(TypedDict):
    """One step of a run, as `GET /api/runs/{id}` shows it."""

    index: int
    name: str
    status: StepStatusName
    pct_start: float
    pct_end: float
    processed: int
    skipped: int
    total: int | None
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    error: str | None


class RunJson(TypedDict):
    """A run, as every JSON route shows it."""

    id: str
    tenant: str
    kind: str
    params: dict[str, Any]
    status: RunStatusName
    percentage: float
    message: str
    current_step: int | None
    processed: int
    skipped: int
    total: int | None
    rate: float | None
    eta_s: float | None
    seq: int
    attempt: int
    heartbeat_at: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error: str | None
    error_code: str | None
    result: dict[str, Any] | None
    summary: str | None  # completed: the kind's sentence for its result (None without one)
    created_by: str | None
    batch_id: str | None  # the batch this run is a child of
    stale: bool  # running, but its heartbeat stopped: the page shows a badge
    resumable: bool
    pausable: bool  # its kind stops at a chunk's end when asked, and it is no batch's child
    pause_requested: bool  # asked to pause; `status` becomes `paused` at the next chunk's end
    url: str
    events_url: str
    steps: NotRequired[list[StepJson]]  # in `GET /api/runs/{id}` and its log


class BatchCountsJson(TypedDict):
    """How many of a batch's children are in each state; they add up to its size."""

    succeeded: int
    failed: int
    cancelled: int
    skipped: int
    running: int  # started: its run is running or waiting for a worker
    pending: int  # not started yet: it waits for the children it depends on


class BatchChildRefJson(TypedDict):
    """The child a batch's progress event reports: the one that moved last."""

    index: int
    name: str
    kind: str
    run_id: str | None
    status: ChildStatusName
    percentage: float
    step: StepRefJson | None  # the child's own current step
    reason: str | None  # why it failed, was cancelled or was skipped (as soon as it did)


class BatchProgressEventJson(ProgressEventJson):
    """A batch's unnamed event: `percentage` is the weighted whole, `step` the current child
    (as a step of the batch), `processed` the children ended, `total` all of them."""

    counts: BatchCountsJson
    child: BatchChildRefJson | None


class BatchChildOutcomeJson(TypedDict):
    """How one child ended, in a batch's terminal event and its webhook."""

    index: int
    name: str
    kind: str
    run_id: str | None
    status: ChildStatusName
    reason: str | None  # why it failed, was cancelled or was skipped


class BatchTerminalEventJson(TerminalEventJson):
    """A batch's `complete`, `error` or `cancelled` event, with every child's outcome."""

    counts: BatchCountsJson
    children: list[BatchChildOutcomeJson]


class BatchChildJson(TypedDict):
    """One child, as `GET /api/batches/{id}` shows it."""

    index: int
    name: str
    kind: str
    params: dict[str, Any]
    weight: float
    after: list[int]  # the children it waits for (the defaults resolved)
    status: ChildStatusName
    reason: str | None
    run_id: str | None  # its current run (None until it starts)
    percentage: float
    message: str
    step: StepRefJson | None
    started_at: str | None
    finished_at: str | None
    duration_s: float | None
    url: str | None
    events_url: str | None


class BatchJson(TypedDict):
    """A batch, as every batch route shows it."""

    id: str
    tenant: str
    name: str
    parallel: bool
    status: RunStatusName
    percentage: float
    message: str
    counts: BatchCountsJson
    seq: int
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    error_code: str | None
    created_by: str | None
    admin_only: bool  # a child's kind only an admin may start: only an admin may resume it
    heartbeat_at: str | None  # the newest of its running children's (a sign of life)
    stale: bool  # a running child's heartbeat stopped (its worker is presumed dead)
    resumable: bool  # failed, cancelled or paused: a resume runs what did not succeed yet
    pause_requested: bool  # asked to pause: no child starts; `paused` once none is running
    url: str
    events_url: str
    children: list[BatchChildJson]


class WebhookRunJson(TypedDict):
    """The run inside a webhook notification: how it ended."""

    id: str
    tenant: str
    kind: str
    status: RunStatusName
    message: str
    result: dict[str, Any] | None
    error: str | None
    error_code: str | None
    created_at: str
    started_at: str | None
    finished_at: str
    url: str  # a batch's: `/api/batches/{id}`, its children's outcomes in `result`


class WebhookJson(TypedDict):
    """The body of a webhook POST (signed: `X-Progress-SSE-Signature`)."""

    delivery_id: str
    event: WebhookEventName
    created_at: str
    run: WebhookRunJson


class MailRecipientJson(TypedDict):
    """A tenant's mail recipient of run and batch outcomes (`/api/mail/recipients`)."""

    id: int
    address: str
    events: list[WebhookEventName]  # the outcomes mailed to it, as webhooks name them
    created_at: str
    created_by: str | None


class StepSpecJson(TypedDict):
    """A step a kind declares: its slice of the bar."""

    name: str
    start: float
    end: float


class KindJson(TypedDict):
    """A job kind, as `GET /api/kinds` shows it (the page draws its start form)."""

    name: str
    title: str
    description: str
    resumable: bool
    admin_only: bool  # only an admin may start one (the page hides it from members)
    steps: list[StepSpecJson] | None  # None: they depend on the params
    params_schema: dict[str, Any]  # the params model's JSON Schema
