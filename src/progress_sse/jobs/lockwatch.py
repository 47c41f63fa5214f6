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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
WATCH_EVERY_S = 1.0

# For every waiting process asked about, the oldest transaction among those blocking it.
_BLOCKERS = sa.text(
    "SELECT w.pid, b.pid, b.state, b.xact_start, b.application_name "
    "FROM unnest(CAST(:pids AS integer[])) AS w(pid) "
    "CROSS JOIN LATERAL (SELECT a.pid, a.state, a.xact_start, a.application_name "
    "  FROM pg_stat_activity AS a WHERE a.pid = ANY (pg_blocking_pids(w.pid)) "
    "  ORDER BY a.xact_start LIMIT 1) AS b"
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


async def blockers_of(
    sessions: async_sessionmaker[AsyncSession], pids: Sequence[int]
) -> dict[int, Blocker]:
    """Who blocks each of `pids` (those blocked by nobody are left out): one query for all."""
    async with sessions() as session:
        rows = (await session.execute(_BLOCKERS, {"pids": list(pids)})).all()
    return {row[0]: Blocker(*row[1:]) for row in rows}


Ask = Callable[[Sequence[int]], Awaitable[dict[int, Blocker]]]


@dataclass(slots=True, eq=False)
class Watched:
    """One business transaction under watch; `stop()` when it ends."""

    pid: int
    limit_s: float
    quiet_s: Callable[[], float]
    show: Callable[[str], None]
    watches: LockWatches

    async def stop(self) -> None:
        self.watches.forget(self)


class LockWatches:
    """One poll a second for all of a process's business transactions whose jobs are quiet.

    A job that waits on a lock reports nothing; after `WATCH_EVERY_S` of quiet
    its transaction is asked about. All such transactions of the process are
    asked about in one query, so a hundred runs cost one query a second, not
    a hundred (which, on a loaded machine where every job looks quiet, was a
    tenth of a many-runs process's CPU: bench/RESULTS.md).
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], *, every_s: float = WATCH_EVERY_S,
        ask: Ask | None = None,
    ) -> None:  # fmt: skip
        self.every_s = every_s
        self._ask: Ask = ask or (lambda pids: blockers_of(sessions, pids))
        self._watched: set[Watched] = set()
        self._task: asyncio.Task[None] | None = None
        self.queries = 0

    def watch(
        self, pid: int, limit_s: float, *, quiet_s: Callable[[], float],
        show: Callable[[str], None],
    ) -> Watched:  # fmt: skip
        watched = Watched(pid, limit_s, quiet_s, show, self)
        self._watched.add(watched)
        if self.idle:
            self._task = asyncio.create_task(self._poll(), name="lockwatch")
        return watched

    @property
    def idle(self) -> bool:
        """No poll is running (none is needed without a watch)."""
        return self._task is None or self._task.done()

    def forget(self, watched: Watched) -> None:
        self._watched.discard(watched)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        self._watched.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _poll(self) -> None:
        while self._watched:  # ends with the last watch; the next one starts it again
            await asyncio.sleep(self.every_s)
            quiet = [w for w in self._watched if w.quiet_s() >= self.every_s]
            if not quiet:
                continue
            try:
                self.queries += 1
                blockers = await self._ask(sorted({w.pid for w in quiet}))
            except Exception:  # a hint only: never let it disturb the runs
                log.debug("could not ask who blocks %d processes", len(quiet), exc_info=True)
                continue
            for watched in quiet:
                blocker = blockers.get(watched.pid)
                if blocker is not None and watched in self._watched:
                    watched.show(describe(blocker, watched.limit_s))
