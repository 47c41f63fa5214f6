"""Stale runs: a `running` run whose heartbeat stopped is failed, by any process (seed 004).

Every process sweeps periodically, and status reads check the run they
show, so a bar never waits on a dead worker. The failed run's lease is
gone, which fences the old worker: its next progress write and its final
update are refused, and it stops.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from progress_sse.broker import Broker
from progress_sse.events import utc_now
from progress_sse.models import Run
from progress_sse.statuses import RunStatus
from progress_sse.store import RunStore

log = logging.getLogger(__name__)


def is_stale(run: Run, stale_after_s: float, now: datetime | None = None) -> bool:
    """A running run whose heartbeat is older than the threshold (seed 004)."""
    if run.status != RunStatus.RUNNING or run.heartbeat_at is None:
        return False
    return (now or utc_now()) - run.heartbeat_at > timedelta(seconds=stale_after_s)


STALE_MESSAGE = (
    "The run stopped sending heartbeats, so its worker is presumed dead. "
    "Work it had not committed was rolled back."
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
        failed = 0
        for stale_id in await self.store.stale_run_ids(cutoff, run_id):
            event = await self.store.finish(
                stale_id, lease=None, status=RunStatus.FAILED, message=STALE_MESSAGE,
                error_code="stale", error=STALE_MESSAGE, stale_before=cutoff,
            )  # fmt: skip
            if event is not None:  # None: it heartbeated or ended meanwhile
                failed += 1
                log.warning("run %s: no heartbeat for %ss; marked failed (stale)",
                            stale_id, self.stale_after_s)  # fmt: skip
                await self.broker.publish(stale_id, [event])
        self.detected += failed
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
