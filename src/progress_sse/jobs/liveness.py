"""Stale runs: a `running` run whose heartbeat stopped is failed, by any process.

Every process sweeps periodically, and status reads check the run they
show, so a bar never waits on a dead worker. The failed run's lease is
gone, which fences the old worker: its next progress write and its final
update are refused, and it stops.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from progress_sse.runs.events import utc_now
from progress_sse.runs.models import Run
from progress_sse.runs.statuses import RunStatus
from progress_sse.runs.store import Failure, RunStore
from progress_sse.streaming.broker import Broker

log = logging.getLogger(__name__)


def is_stale(run: Run, stale_after_s: float, now: datetime | None = None) -> bool:
    """A running run whose heartbeat is older than the threshold."""
    if run.status != RunStatus.RUNNING or run.heartbeat_at is None:
        return False
    return (now or utc_now()) - run.heartbeat_at > timedelta(seconds=stale_after_s)


STALE_MESSAGE = (
    "The run stopped sending heartbeats, so its worker is presumed dead. "
    "Work it had not committed was rolled back."
)
ORPHAN_MESSAGE = (
    "The process running it stopped (its database session ended). "
    "Work it had not committed was rolled back."
)
RESTART_MESSAGE = (
    "The process running it stopped before the run finished; this was found when jobs "
    "started again on this database. Work it had not committed was rolled back."
)


class Liveness:
    def __init__(self, store: RunStore, broker: Broker, *, stale_after_s: float) -> None:
        self.store = store
        self.broker = broker
        self.stale_after_s = stale_after_s
        self.detected = 0

    async def sweep(self, run_id: str | None = None) -> int:
        """Fail every stale run (or just `run_id`); each gets one `error` event."""
        cutoff = self.store.stale_cutoff(self.stale_after_s)
        ids = await self.store.stale_run_ids(cutoff, run_id)
        failed = await self._fail(ids, STALE_MESSAGE, "stale", stale_before=cutoff)
        self.detected += failed
        return failed

    async def sweep_orphans(self) -> int:
        """Fail the runs of workers whose database session is gone (PostgreSQL, seconds)."""
        failed = await self._fail(
            await self.store.orphaned_run_ids(), ORPHAN_MESSAGE, "worker_lost"
        )
        self.detected += failed
        return failed

    async def fail_left_running(self) -> int:
        """At start-up of the one process that runs a SQLite database's jobs: whatever is
        still `running` was its dead predecessor's, so it fails now, not in `stale_after_s`."""
        failed = await self._fail(
            await self.store.running_run_ids(), RESTART_MESSAGE, "worker_lost"
        )
        self.detected += failed
        return failed

    async def _fail(self, ids: list[str], message: str, code: str, stale_before: Any = None) -> int:
        failed = 0
        for run_id in ids:
            try:
                event = await self.store.fail_abandoned(
                    run_id, Failure(message, code, message), stale_before=stale_before
                )
            except Exception:  # one run's trouble must not stop the sweep of the others
                log.exception("run %s: could not be marked failed; the next sweep retries", run_id)
                continue
            if event is not None:  # None: it heartbeated, ended, or its row is held
                failed += 1
                log.warning("run %s: marked failed (%s)", run_id, code)
                await self.broker.publish(run_id, [event])
        return failed

    async def checked(self, run: Run) -> Run:
        """The run as a status read should show it: swept first if it looks stale.

        Our clock only pre-selects (with a margin for clock skew); the sweep
        itself compares with the database's clock.
        """
        if not is_stale(run, self.stale_after_s * 0.9):
            return run
        if await self.sweep(run.id):
            fresh = await self.store.get_run(run.tenant_id, run.id)
            return fresh
        return run
