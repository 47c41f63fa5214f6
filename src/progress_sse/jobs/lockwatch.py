"""While a run's business statement waits for another transaction's lock, say whose (PostgreSQL).

A run that waits on a lock sends heartbeats and nothing else: to its
watchers it looks stuck. PostgreSQL knows who holds what (`pg_blocking_pids`),
so while the job has been quiet for a moment, the watch asks the server, on
the run store's connections, and puts the answer on the run's bar. The wait
itself is bounded by the business engine's `lock_timeout` (`db.business_engine`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
WATCH_EVERY_S = 1.0

_BLOCKER = sa.text(
    "SELECT b.pid, b.state, b.xact_start, b.application_name "
    "FROM pg_stat_activity AS b "
    "WHERE b.pid = ANY (pg_blocking_pids(:pid)) ORDER BY b.xact_start LIMIT 1"
)


@dataclass(frozen=True, slots=True)
class Blocker:
    pid: int
    state: str | None
    since: datetime | None
    application: str | None


def describe(blocker: Blocker, limit_s: float) -> str:
    """The bar's message while the run waits (pure)."""
    since = f" since {blocker.since:%H:%M:%S} UTC" if blocker.since else ""
    state = f", {blocker.state}" if blocker.state else ""
    who = f" ({blocker.application})" if blocker.application else ""
    return (
        f"Waiting for locks held by another transaction: PostgreSQL process {blocker.pid}"
        f"{who}{state}{since}. The run gives up after {limit_s:g} s."
    )


async def blocker_of(sessions: async_sessionmaker[AsyncSession], pid: int) -> Blocker | None:
    async with sessions() as session:
        row = (await session.execute(_BLOCKER, {"pid": pid})).one_or_none()
    return None if row is None else Blocker(*row)


class LockWatch:
    """Polls for a blocker while `quiet_s()` says the job has been silent a while."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pid: int,
        limit_s: float,
        *,
        quiet_s: Callable[[], float],
        show: Callable[[str], None],
    ) -> None:
        self.sessions, self.pid, self.limit_s = sessions, pid, limit_s
        self.quiet_s, self.show = quiet_s, show
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name=f"lockwatch:{self.pid}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            if self.quiet_s() < WATCH_EVERY_S:
                continue
            try:
                blocker = await blocker_of(self.sessions, self.pid)
            except Exception:  # a hint only: never let it disturb the run
                log.debug("could not ask who blocks process %s", self.pid, exc_info=True)
                continue
            if blocker is not None:
                self.show(describe(blocker, self.limit_s))
