"""Group commit: every run's progress write that is ready at once goes in one transaction.

With a hundred runs in one process, one transaction per run per interval
was most of the write path's cost (bench/RESULTS.md): a pool checkout, a
BEGIN and a COMMIT each. Here a write waits only while an earlier group is
being committed, so a lone run's write starts at once (no linger, no added
latency), and under load every write that arrived meanwhile rides the next
transaction. Each write keeps its own fence: the lease check in its UPDATE
(`RunStore.write_progress_many`), so a run that lost its lease gets
`LeaseLost` alone. A run whose row another transaction holds is left out of
the group (PostgreSQL's SKIP LOCKED) and waits for its row in a transaction
of its own, as it would without group commit. If a group fails for any other
reason, each of its writes is tried again in a transaction of its own, so
one run's failure never becomes its neighbours'.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from progress_sse.runs.events import RunEvent
from progress_sse.runs.store import LeaseLost, ProgressWrite, Requests, RowBusy

log = logging.getLogger(__name__)

MAX_GROUP = 200  # writes per transaction: bounds one transaction's time and size


class ProgressStore(Protocol):
    """What a progress writer writes to: the run store itself, or a `GroupCommit`."""

    async def write_progress(
        self,
        run_id: str,
        lease: str,
        events: Sequence[RunEvent],
        run_values: dict[str, Any],
        steps: Sequence[dict[str, Any]],
    ) -> Requests: ...


class ManyWriter(Protocol):
    async def write_progress_many(
        self, writes: Sequence[ProgressWrite], *, skip_locked: bool = False
    ) -> list[Requests | LeaseLost | RowBusy]: ...


@dataclass(slots=True)
class _Queued:
    write: ProgressWrite
    answer: asyncio.Future[Requests] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit:
    """A `ProgressStore` for all the runs of one process, committing them in groups."""

    def __init__(self, store: ManyWriter, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.max_group = max_group
        self._queue: list[_Queued] = []
        self._committing: asyncio.Task[None] | None = None
        self._alone: set[asyncio.Task[None]] = set()  # writes whose row was held (`RowBusy`)
        self.groups = 0  # transactions committed (a write retried alone counts its own)
        self.largest = 0  # the most writes one transaction carried

    async def write_progress(
        self,
        run_id: str,
        lease: str,
        events: Sequence[RunEvent],
        run_values: dict[str, Any],
        steps: Sequence[dict[str, Any]],
    ) -> Requests:
        """Queue one run's write; answers once its transaction committed (or raises).

        Cancelled while its write is queued, nothing of it is written. Cancelled
        once its transaction has begun, it still waits for the outcome (one
        transaction long), so the writer never believes a committed write
        failed and sends its seqs again: committed, it answers, and the
        cancellation is asked for again, to be delivered at the caller's next
        wait; not committed, the cancellation is raised.
        """
        queued = _Queued(ProgressWrite(run_id, lease, tuple(events), dict(run_values), steps))
        self._queue.append(queued)
        if self._committing is None or self._committing.done():
            self._committing = asyncio.create_task(self._commit_all(), name="group-commit")
        try:
            return await asyncio.shield(queued.answer)
        except asyncio.CancelledError:
            if queued in self._queue:  # not taken yet: nothing of it is written
                self._queue.remove(queued)
                raise
        try:
            outcome = await asyncio.shield(queued.answer)
        except Exception:
            raise asyncio.CancelledError from None  # nothing was written: cancelled it stays
        task = asyncio.current_task()
        if task is not None:
            task.cancel()  # delivered at the caller's next wait, once it recorded the write
        return outcome

    async def aclose(self) -> None:
        """At shutdown, after the runs' tasks: end what is still waiting for a row."""
        for task in list(self._alone):
            task.cancel()
        committing = [t for t in (self._committing,) if t is not None]
        await asyncio.gather(*self._alone, *committing, return_exceptions=True)
        self._alone.clear()

    async def _commit_all(self) -> None:
        group: list[_Queued] = []
        try:
            while self._queue:
                group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
                await self._commit(group)
        except BaseException as exc:  # cancelled (shutdown): no writer may wait forever
            for queued in group + self._queue:
                _answer(queued, exc)
            self._queue = []
            raise

    async def _commit(self, group: list[_Queued]) -> None:
        """One transaction for `group`; it never waits for a row another transaction holds
        (`skip_locked`): such a write waits for its row alone, off the committer's path."""
        try:
            outcomes = await self.store.write_progress_many(
                [q.write for q in group], skip_locked=True
            )
        except Exception as exc:
            if len(group) == 1:
                _answer(group[0], exc)
            else:  # find the write that failed: each alone, in its own transaction
                for queued in group:
                    await self._commit([queued])
            return
        self.groups += 1
        self.largest = max(self.largest, len(group))
        for queued, outcome in zip(group, outcomes, strict=True):
            if isinstance(outcome, RowBusy):
                task = asyncio.create_task(self._wait_for_row(queued), name="group-commit-alone")
                self._alone = {t for t in self._alone if not t.done()} | {task}
            else:
                _answer(queued, outcome)

    async def _wait_for_row(self, queued: _Queued) -> None:
        """A write whose row was held: in a transaction of its own, waiting for the row (as
        without group commit, up to the store's lock timeout)."""
        try:
            (outcome,) = await self.store.write_progress_many([queued.write])
        except BaseException as exc:
            _answer(queued, exc)
            if not isinstance(exc, Exception):
                raise
        else:
            self.groups += 1
            _answer(queued, outcome)


def _answer(queued: _Queued, outcome: Requests | BaseException) -> None:
    answer = queued.answer
    if answer.done():
        return
    if isinstance(outcome, asyncio.CancelledError):
        answer.cancel()
    elif isinstance(outcome, BaseException):
        answer.set_exception(outcome)
        answer.add_done_callback(_retrieved)  # its writer may have been cancelled meanwhile
    else:
        queued.answer.set_result(outcome)


def _retrieved(answer: asyncio.Future[Requests]) -> None:
    if not answer.cancelled():
        answer.exception()
