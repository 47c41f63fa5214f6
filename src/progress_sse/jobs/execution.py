"""One attempt of one run as the runner drives it: its steps and bar, its progress writer,
its business transaction. The job sees it only through `JobContext` (jobs/context.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.errors import RunCancelled, RunPaused
from progress_sse.jobs.lockwatch import LockWatches, Watched
from progress_sse.jobs.writer import Draft, ProgressWriter, Snapshot
from progress_sse.runs.events import utc_now
from progress_sse.runs.progress import (
    StepSpec,
    StepState,
    clamp,
    progress_payload,
    rate_and_eta,
    step_percentage,
    validate_steps,
)
from progress_sse.runs.statuses import RunStatus, StepStatus
from progress_sse.runs.store import LeaseLost
from progress_sse.storage.writelock import begin_writing

WAITING = "Waiting for another run to finish writing…"


MakeWriter = Callable[[Snapshot], ProgressWriter]


class Execution:
    """The state behind a `JobContext`, and what only the runner does with it."""

    def __init__(
        self,
        *,
        run_id: str,
        tenant_id: str,
        attempt: int,
        writer: MakeWriter,
        created_by: str | None = None,
        lock_wait_s: float | None = None,
        lock_watches: LockWatches | None = None,
        business: async_sessionmaker[AsyncSession],
        log: logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.run_id = run_id
        self.tenant_id = tenant_id
        self.attempt = attempt
        self.created_by = created_by  # who started the run (recorded on what it posts)
        self._lock_wait_s = lock_wait_s  # PostgreSQL's lock_timeout on business work
        self._lock_watches = lock_watches  # the process's (jobs/lockwatch.py)
        self._watch: Watched | None = None
        self._last_tick = time.monotonic()
        self.log = log or logging.LoggerAdapter(logging.getLogger("progress_sse.job"), {})
        self._writer = writer(self._draft)  # it snapshots this state at each write
        self._business = business
        self._session: AsyncSession | None = None
        self._steps: list[StepState] = []
        self._current: StepState | None = None
        self._step_started = time.monotonic()
        self.percentage = 0.0
        self.message = ""
        self.cancel_requested = False
        self.pause_requested = False
        # Its kind stops at a chunk's end when asked (`JobKind.pausable`); set by the runner.
        self.pausable = False
        self.chunks_committed = 0  # this attempt's: what a cancel or failure leaves in place
        self._fraction: float | None = None
        self._explicit: float | None = None

    @property
    def writer(self) -> ProgressWriter:
        return self._writer

    def request_cancel(self) -> None:
        """Cancel from this process: the job stops at its next checkpoint."""
        self.cancel_requested = True

    def request_pause(self) -> None:
        """Pause from this process: the job stops after its current chunk commits."""
        self.pause_requested = True

    # -- steps --------------------------------------------------------------------

    def declare_steps(self, specs: Sequence[StepSpec]) -> None:
        validate_steps(specs)
        self._steps = [StepState(index=i, spec=spec) for i, spec in enumerate(specs)]
        for state in self._steps:
            self._writer.queue_step(state.as_row())

    @property
    def steps(self) -> list[StepState]:
        return self._steps

    @property
    def current_step(self) -> StepState | None:
        return self._current

    async def enter_step(self, name: str, *, total: int | None = None, message: str = "") -> None:
        """Finish the step in progress (if any) and start `name`."""
        if self._current is not None:
            await self._finish_step(StepStatus.COMPLETED)
        state = self._step_named(name)
        state.status = StepStatus.IN_PROGRESS
        state.started_at = utc_now()
        state.total = total
        self._current = state
        self._step_started = time.monotonic()
        self._fraction = None
        self.percentage = max(self.percentage, state.spec.start)
        if message:
            self.message = message
        await self._milestone(state)

    @asynccontextmanager
    async def step(
        self, name: str, *, total: int | None = None, message: str = ""
    ) -> AsyncIterator[StepState]:
        """`async with ctx.step("load"):` marks the step in progress, then completed."""
        await self.enter_step(name, total=total, message=message)
        state = self._step_named(name)
        yield state
        if self._current is state:
            await self._finish_step(StepStatus.COMPLETED)

    async def _finish_step(self, status: StepStatus, error: str | None = None) -> None:
        state = self._current
        if state is None:
            return
        state.status = status
        state.finished_at = utc_now()
        state.error = error
        if status is StepStatus.COMPLETED:
            self._settle_percentage()
            self.percentage = max(self.percentage, state.spec.end)
        self._current = None
        self._fraction = None
        await self._milestone(state)

    def _step_named(self, name: str) -> StepState:
        for state in self._steps:
            if state.spec.name == name:
                return state
        raise ValueError(f"undeclared step {name!r}")

    # -- progress -------------------------------------------------------------------

    async def progress(
        self,
        *,
        processed: int | None = None,
        total: int | None = None,
        fraction: float | None = None,
        percentage: float | None = None,
        message: str | None = None,
        skipped: int | None = None,
    ) -> None:
        """Report progress: counts or a fraction inside the step, or an overall percentage.

        `skipped` sets how many of the step's processed items were passed over
        on purpose (the same as calling `skip()` for each, in one call).

        Cheap enough to call for every item: it only records the numbers; the
        writer turns the newest state into an event at most every
        `progress_interval_s`.
        """
        state = self._current
        if state is not None:
            if total is not None:
                state.total = total
            if processed is not None:
                state.processed = processed
            if skipped is not None:
                state.skipped = skipped
        if fraction is not None:
            self._fraction = fraction
        if percentage is not None:
            self._explicit = percentage
        if message is not None:
            self.message = message
        await self._tick()

    async def skip(self, count: int = 1, message: str | None = None) -> None:
        """Count items passed over on purpose (they are not failures)."""
        if self._current is not None:
            self._current.skipped += count
        if message is not None:
            self.message = message
        await self._tick()

    async def set_message(self, message: str) -> None:
        self.message = message
        await self._tick()

    async def checkpoint(self) -> None:
        """Raise `RunCancelled` once a cancel was requested (here or in any process)."""
        self._check()

    def _check(self) -> None:
        writer = self._writer
        if writer.lease_lost:
            raise LeaseLost(self.run_id)
        if self.cancel_requested or writer.cancel_requested:
            raise RunCancelled()

    async def note(self, message: str) -> None:
        """An event of its own that is never conflated (a bad import row, say)."""
        self.message = message
        self._check()
        self._writer.offer_milestone(self._draft())

    async def _tick(self) -> None:
        self._check()
        self._last_tick = time.monotonic()
        writer = self._writer
        writer.mark_dirty()
        if writer.due:
            await asyncio.sleep(0)  # let the writer run even in a busy loop

    def _settle_percentage(self) -> float:
        """Fold the reported numbers into the bar, which never moves backwards."""
        state, explicit = self._current, self._explicit
        if explicit is None and state is not None and (self._fraction is not None or state.total):
            explicit = step_percentage(
                state.spec, processed=state.processed, total=state.total, fraction=self._fraction
            )
        if explicit is not None:
            self.percentage = max(self.percentage, clamp(round(explicit, 2)))
        self._explicit = None
        return self.percentage

    def _draft(self, step: StepState | None = None) -> Draft:
        """The current state as an event draft (built per flush, not per tick)."""
        state = step or self._current
        percentage = self._settle_percentage()
        rate, eta = (None, None)
        if state is not None and state.total and state.status is StepStatus.IN_PROGRESS:
            rate, eta = rate_and_eta(
                state.processed, state.total, time.monotonic() - self._step_started
            )
        processed = sum(s.processed for s in self._steps)
        skipped = sum(s.skipped for s in self._steps)
        data = progress_payload(
            run_id=self.run_id,
            seq=0,
            status=RunStatus.RUNNING,
            percentage=percentage,
            message=self.message,
            step=state,
            processed=state.processed if state else processed,
            skipped=state.skipped if state else skipped,
            total=state.total if state else None,
            rate=rate,
            eta_s=eta,
            ts=utc_now(),
        )
        run_values = {
            "percentage": percentage,
            "message": self.message,
            "current_step": state.index if state else None,
            "processed": processed,
            "skipped": skipped,
            "total": state.total if state else None,
            "rate": rate,
            "eta_s": eta,
        }
        return Draft(data, run_values, state.as_row() if state is not None else None)

    async def _milestone(self, step: StepState) -> None:
        self._check()
        self._last_tick = time.monotonic()
        self._writer.offer_milestone(self._draft(step))
        await asyncio.sleep(0)  # let the writer take it (now, or at its next write)

    # -- the business transaction ----------------------------------------------------

    async def session(self, *, read_only: bool = False) -> AsyncSession:
        """The run's business session; its one transaction is committed by the runner
        after the job returns, and rolled back if it raises or is cancelled.

        It writes unless `read_only`: on SQLite it then takes the database's one
        write lock at once, waiting (and saying so) while another run writes.
        A read-only session reads a snapshot and never waits.
        """
        if self._session is None:
            begin = self._begin_reading if read_only else self._begin_writing
            self._session = await begin()
            self._watch = None if read_only else await self._watch_locks(self._session)
        return self._session

    @asynccontextmanager
    async def chunk(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """A transaction of its own, committed when the block ends (batch jobs).

        A cancel or failure inside the block rolls back only this chunk;
        chunks committed before stay, which is what makes a run resumable.
        A `read_only` chunk reads a snapshot and never waits for SQLite's writer.
        """
        self._check()
        self._pause_point()
        session = await self._begin_reading() if read_only else await self._begin_writing()
        watch = None if read_only else await self._watch_locks(session)
        try:
            yield session
            self._check()  # cancelled meanwhile: roll this chunk back
            await session.commit()
            self.chunks_committed += 0 if read_only else 1
        finally:
            if watch is not None:
                await watch.stop()
            await session.close()  # rolls back what was not committed

    def _pause_point(self) -> None:
        """Before a chunk, so after the one before it committed and the job reported it: stop
        here if asked to pause, unless a job's own transaction is open (`session()`), which
        a pause would roll back."""
        asked = self.pause_requested or self._writer.pause_requested
        if asked and self.pausable and self._session is None:
            raise RunPaused()

    async def _begin_reading(self) -> AsyncSession:
        session = self._business()
        await session.begin()
        return session

    async def _begin_writing(self) -> AsyncSession:
        """A writing transaction; on SQLite it waits its turn for the write lock
        (storage/writelock.py)."""
        return await begin_writing(self._business, self._waiting)

    async def _watch_locks(self, session: AsyncSession) -> Watched | None:
        """PostgreSQL: while this transaction waits on another's lock, the bar says whose."""
        if (
            self._lock_wait_s is None
            or self._lock_watches is None
            or session.get_bind().dialect.name != "postgresql"
        ):
            return None
        pid = await session.scalar(sa.select(sa.func.pg_backend_pid()))
        return self._lock_watches.watch(
            int(pid or 0), self._lock_wait_s,
            quiet_s=lambda: time.monotonic() - self._last_tick, show=self._show,
        )  # fmt: skip

    def _show(self, message: str) -> None:
        """A message from outside the job's own flow (its coroutine is blocked meanwhile)."""
        self.message = message
        self._writer.mark_dirty()

    async def _waiting(self) -> None:
        """Between attempts at SQLite's write lock: say so once, and honour a cancel."""
        if self.message != WAITING:
            await self.set_message(WAITING)
        await self.checkpoint()

    @property
    def has_session(self) -> bool:
        return self._session is not None

    # -- used by the runner ------------------------------------------------------

    def final_step_rows(self, status: RunStatus, error: str | None) -> list[dict[str, Any]]:
        """Close the open step: completed after commit, failed after rollback; a pause
        leaves every step as it stands."""
        if status is RunStatus.PAUSED:
            return [s.as_row() for s in self._steps]
        now = utc_now()
        for state in self._steps:
            if state.status is StepStatus.IN_PROGRESS:
                state.status = (
                    StepStatus.COMPLETED if status is RunStatus.COMPLETED else StepStatus.FAILED
                )
                state.finished_at = now
                state.error = error if status is RunStatus.FAILED else None
            elif state.status is StepStatus.PENDING and status is RunStatus.COMPLETED:
                state.status = StepStatus.SKIPPED
        return [s.as_row() for s in self._steps]

    async def commit(self) -> None:
        if self._session is not None:
            await self._session.commit()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()

    async def close(self) -> None:
        if self._watch is not None:
            await self._watch.stop()
            self._watch = None
        if self._session is not None:
            await self._session.close()
            self._session = None
