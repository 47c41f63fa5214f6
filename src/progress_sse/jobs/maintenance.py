"""Admin resets and retention: ending a tenant's runs, deleting old finished ones.

Each action is written to the log (who, what, how many) as its audit trail.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlalchemy as sa

from progress_sse.runs.events import RunEvent, utc_now
from progress_sse.runs.models import BATCH_KIND, Run
from progress_sse.runs.statuses import ACTIVE_STATUSES, RunStatus
from progress_sse.runs.store import Failure, RunStore
from progress_sse.streaming.broker import Broker

log = logging.getLogger(__name__)

RESET_ROUNDS = 20  # bounded: a tenant whose jobs start faster than this ends keeps some
RESET_PAUSE_S = 0.05
RESET_MESSAGE = "An administrator reset this run; work it had not committed was rolled back."


async def reset_tenant(store: RunStore, broker: Broker, tenant_id: str, by: str) -> int:
    """Fail every pending or running run of the tenant (`reset_by_admin`).

    Clearing the lease fences the workers: their late commits are refused. A batch's
    own row is left to its children: their failures end it, with every child's outcome.
    """
    events: list[RunEvent] = []
    failure = Failure(RESET_MESSAGE, "reset_by_admin", RESET_MESSAGE)
    # A run whose row a transaction holds at that instant (its own progress write) is
    # skipped, not waited for; the next round takes it, and one that ended meanwhile
    # (or was claimed: pending -> running) is read again.
    for _round in range(RESET_ROUNDS):
        async with store.sessions() as session:
            rows = await session.execute(
                sa.select(Run.id, Run.status).where(
                    Run.tenant_id == tenant_id,
                    Run.status.in_([s.value for s in ACTIVE_STATUSES]),
                    Run.kind != BATCH_KIND,
                )
            )
            active = list(rows)
        if not active:
            break
        for run_id, status in active:
            event = await store.reset(run_id, RunStatus(status), failure)
            if event is not None:
                events.append(event)
                await broker.publish(run_id, [event])
        await asyncio.sleep(RESET_PAUSE_S)
    log.warning("audit: %s reset tenant %s: %d active run(s) failed", by, tenant_id, len(events))
    return len(events)


DELETE_BATCH = 200


async def delete_finished(
    store: RunStore, *, older_than: timedelta, tenant_id: str | None, by: str
) -> int:
    """Delete finished runs (their steps and events cascade) that ended before the cutoff.

    In batches of DELETE_BATCH runs, each its own short transaction: a large
    backlog must not hold locks for long, nor run into the store's statement
    timeout (`Settings.store_statement_timeout_s`).
    """
    cutoff = utc_now() - older_than
    due = sa.select(Run.id).where(
        Run.status.in_(
            [RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value]
        ),
        Run.finished_at < cutoff,
    )
    if tenant_id is not None:
        due = due.where(Run.tenant_id == tenant_id)
    deleted = 0
    while True:
        batch = due.order_by(Run.id).limit(DELETE_BATCH).scalar_subquery()
        async with store.sessions.begin() as session:
            result = await session.execute(sa.delete(Run).where(Run.id.in_(batch)))
        count = int(result.rowcount)  # type: ignore[attr-defined]
        deleted += count
        if count < DELETE_BATCH:
            break
    log.warning(
        "audit: %s deleted %d finished run(s) older than %s (tenant %s)",
        by, deleted, older_than, tenant_id or "all",
    )  # fmt: skip
    return deleted
