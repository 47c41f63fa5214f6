"""The job runner: claims pending runs and executes each as a background task.

A run's task belongs to the runner, never to an HTTP request or a watcher,
so closing a browser cannot stop a job. The order of the ending is the
contract: business COMMIT returns, then the run is marked `completed` and
`complete` is published; on failure ROLLBACK returns before `error`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import secrets
import socket
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from progress_sse.errors import JobError, RunCancelled, RunPaused
from progress_sse.jobs.context import JobContext
from progress_sse.jobs.execution import Execution
from progress_sse.jobs.groupcommit import GroupCommit, ProgressStore
from progress_sse.jobs.kinds import JobFn, JobRegistry
from progress_sse.jobs.lockwatch import LockWatches
from progress_sse.jobs.ownership import Ownership, PgOwnership, SqliteOwnership, take_ownership
from progress_sse.jobs.writer import ProgressWriter
from progress_sse.ops.logs import CURRENT_RUN
from progress_sse.runs.events import RunEvent, utc_now
from progress_sse.runs.models import Run
from progress_sse.runs.statuses import RunStatus
from progress_sse.runs.store import Failure, LeaseLost, RunStore
from progress_sse.settings import Settings
from progress_sse.storage.db import is_lock_timeout
from progress_sse.streaming.broker import Broker

log = logging.getLogger(__name__)
FINISH_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """How an attempt ended, before it is written down."""

    status: RunStatus
    message: str
    code: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    recorded: RunEvent | None = None  # already written in the business transaction


GENERIC_FAILURE = "The job failed unexpectedly. The details are in the server log (run {run_id})."
LOCK_TIMEOUT = (
    "The run waited {s:g} s for locks another transaction holds on the same data (a stopped "
    "worker's, or a long run on the same books) and gave up; nothing was changed. Resume it "
    "once the other transaction has ended."
)


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def cancelled_message(run: Execution) -> str:
    """What a cancel left, truly: batch jobs keep the batches they committed."""
    if run.chunks_committed:
        return (
            f"Cancelled; the {run.chunks_committed} batch(es) committed before it stay, and a "
            "resume carries on from there."
        )
    return (
        "Cancelled; nothing was changed."
        if run.attempt <= 1
        else "Cancelled; nothing more was changed."
    )


PAUSED = "Paused; everything committed so far stays. Resume continues with the next chunk."


class Runner:
    """Runs at most `job_concurrency` jobs at once in this process."""

    def __init__(
        self,
        settings: Settings,
        store: RunStore,
        registry: JobRegistry,
        broker: Broker,
        business: async_sessionmaker[AsyncSession],
        on_finished: Callable[[str, str, float | None], None] | None = None,
    ) -> None:
        """`on_finished(kind, status, seconds)` hears of each run this process ends (metrics)."""
        self.settings = settings
        self.store = store
        self.registry = registry
        self.broker = broker
        self.business = business
        self.worker_id = worker_identity()
        # One database for runs and business data: the final update can share the
        # business transaction, so COMMIT and `completed` are one fenced act.
        self.shared_database = settings.business_url == settings.database_url
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.executions: dict[str, Execution] = {}
        self._wake = asyncio.Event()
        self.on_finished = on_finished
        self._loop_task: asyncio.Task[None] | None = None
        self.ownership: Ownership | None = None
        self.lock_watches = LockWatches(store.sessions)  # who blocks a quiet job (PostgreSQL)
        # Every run's progress writes go through one group commit (jobs/groupcommit.py).
        self.progress_store: ProgressStore = GroupCommit(store) if settings.group_commit else store

    async def take_ownership(self) -> None:
        """Hold what marks this process as running these jobs (jobs/ownership.py), before
        any claim."""
        self.ownership = await take_ownership(self.settings, self.worker_id)

    async def start(self) -> None:
        """Start claiming pending runs (ownership taken first, if it was not yet)."""
        if self.ownership is None:
            await self.take_ownership()
        self._loop_task = asyncio.create_task(self._claim_loop(), name="runner")

    @property
    def sole_owner(self) -> bool:
        """This process alone runs the jobs of its database (SQLite, file lock held)."""
        return isinstance(self.ownership, SqliteOwnership)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop claiming; give running jobs `grace_s`, then cancel them (they roll back)."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks.values()), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.lock_watches.aclose()
        if isinstance(self.progress_store, GroupCommit):
            await self.progress_store.aclose()
        if self.ownership is not None:
            await self.ownership.release()

    def wake(self) -> None:
        """A run was created here: look for work now rather than at the next poll."""
        self._wake.set()

    def request_cancel(self, run_id: str) -> None:
        """Fast path when the run executes in this process; others see the DB flag."""
        execution = self.executions.get(run_id)
        if execution is not None:
            execution.request_cancel()

    def request_pause(self, run_id: str) -> None:
        """Fast path when the run executes in this process; others see the DB flag."""
        execution = self.executions.get(run_id)
        if execution is not None:
            execution.request_pause()

    async def _claim_loop(self) -> None:
        while True:
            try:
                await self._claim_some()
            except Exception:
                log.exception("claiming pending runs failed; retrying")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)
            self._wake.clear()

    async def _claim_some(self) -> None:
        free = self.settings.job_concurrency - len(self.tasks)
        if free <= 0:
            return
        if isinstance(self.ownership, PgOwnership) and not self.ownership.held:
            log.warning("the worker's lock connection closed; taking the lock again")
            await self.ownership.acquire()  # runs of ours failed meanwhile are fenced
        for run in await self.store.claim_pending(self.worker_id, free):
            task = asyncio.create_task(self._execute(run), name=f"run:{run.id}")
            self.tasks[run.id] = task
            task.add_done_callback(functools.partial(self._done, run.id))

    def _done(self, run_id: str, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # Its terminal state could not be written; the stale sweeper ends the run.
            log.error("run %s: the runner failed", run_id, exc_info=task.exception())
        self.tasks.pop(run_id, None)
        self.executions.pop(run_id, None)
        self._wake.set()  # a slot is free

    def _execution_of(self, run: Run, lease: str) -> Execution:
        """The runner's handle on one attempt; its writer stops the job if the lease is lost."""
        task = asyncio.current_task()
        make_writer = functools.partial(
            ProgressWriter, self.progress_store, self.broker.publish, run_id=run.id, lease=lease,
            seq=run.seq, interval_s=self.settings.progress_interval_s,
            heartbeat_s=self.settings.heartbeat_interval_s,
            on_lease_lost=task.cancel if task is not None else None,
        )  # fmt: skip
        return Execution(
            run_id=run.id,
            tenant_id=run.tenant_id,
            attempt=run.attempt,
            writer=lambda snapshot: make_writer(snapshot=snapshot),
            created_by=run.created_by,
            lock_wait_s=self.settings.business_lock_wait_s,
            lock_watches=self.lock_watches,
            business=self.business,
            log=logging.LoggerAdapter(log, {"run_id": run.id, "tenant": run.tenant_id}),
        )

    async def _execute(self, run: Run) -> None:
        CURRENT_RUN.set((run.id, run.tenant_id))  # this task's log lines name the run
        assert run.lease_token is not None
        lease = run.lease_token
        execution = self._execution_of(run, lease)
        execution.writer.start()
        try:
            try:
                kind = self.registry.get(run.kind)
                params = kind.params.model_validate(run.params)
                steps = kind.steps_for(params)
            except Exception:
                log.exception("run %s: stored params no longer validate", run.id)
                outcome: Outcome | None = Outcome(
                    RunStatus.FAILED, "The run's parameters are invalid.", "invalid_params"
                )
            else:
                if kind.pausable:  # its chunks stay committed: the bar starts where it stood
                    execution.pausable, execution.percentage = True, run.percentage
                execution.declare_steps(steps)
                self.executions[run.id] = execution
                outcome = await self._outcome(run.id, lease, kind.run, params, execution)
        except asyncio.CancelledError:
            # The process is shutting down mid-job: the business work was rolled back.
            message = "The worker stopped before the run finished; nothing was changed."
            outcome = Outcome(RunStatus.FAILED, message, "interrupted", message)
            await asyncio.shield(self._conclude(run.id, lease, execution, outcome))
            raise
        await self._conclude(run.id, lease, execution, outcome)
        if outcome is not None and outcome.status is RunStatus.PAUSED:
            return  # not finished: no duration to count yet
        if self.on_finished is not None and outcome is not None:
            started = run.started_at
            seconds = (utc_now() - started).total_seconds() if started is not None else None
            self.on_finished(run.kind, outcome.status.value, seconds)

    async def _outcome(
        self,
        run_id: str,
        lease: str,
        fn: JobFn,
        params: Any,
        run: Execution,
    ) -> Outcome | None:
        """Run the coroutine: COMMIT then `completed`, or ROLLBACK then the failure."""
        in_job = True  # a lock wait of the job's own work, not of the bookkeeping after it
        try:
            try:
                result = await fn(JobContext(run), params)
                in_job = False
                await run.checkpoint()  # a cancel that came during the last step still wins
                done = Outcome(RunStatus.COMPLETED, "Completed.", result=result)
                if self.shared_database and run.has_session:
                    done = await self._complete_in_transaction(run_id, lease, run, done)
                elif run.has_session and not await self.store.holds_lease(run_id, lease):
                    # Separate databases (SQLite): check just before COMMIT. Exact fencing
                    # needs the shared PostgreSQL database (the branch above).
                    raise LeaseLost(run_id)
                await run.commit()
            except BaseException:
                await run.rollback()
                raise
            finally:
                await run.close()
        except RunCancelled:
            return Outcome(RunStatus.CANCELLED, cancelled_message(run), "cancelled")
        except RunPaused:
            return Outcome(RunStatus.PAUSED, PAUSED, "paused")
        except LeaseLost:
            log.warning("run %s: lease lost; rolled back and left to its new owner", run_id)
            return None
        except JobError as exc:
            return Outcome(RunStatus.FAILED, exc.message, exc.code, exc.message)
        except Exception as exc:
            if in_job and is_lock_timeout(exc):
                message = LOCK_TIMEOUT.format(s=self.settings.business_lock_wait_s)
                log.warning("run %s: %s", run_id, message)
                return Outcome(RunStatus.FAILED, message, "lock_timeout", message)
            log.exception("run %s failed", run_id)  # the traceback stays in the log
            message = GENERIC_FAILURE.format(run_id=run_id)
            return Outcome(RunStatus.FAILED, message, "internal_error", message)
        return done

    async def _complete_in_transaction(
        self, run_id: str, lease: str, run: Execution, done: Outcome
    ) -> Outcome:
        """Write `completed` inside the business transaction, fenced by the lease.

        A worker that was declared dead (its lease cleared) gets no row here
        and raises `LeaseLost`: its business work rolls back with it.
        """
        await run.writer.close()
        event = await self.store.complete(
            run_id, lease=lease, result=done.result,
            steps=run.final_step_rows(done.status, None), session=await run.session(),
        )  # fmt: skip
        if event is None:
            raise LeaseLost(run_id)
        return dataclasses.replace(done, recorded=event)

    async def _record(
        self, run_id: str, lease: str, outcome: Outcome, steps: list[dict[str, Any]]
    ) -> RunEvent | None:
        """The store's transition for how this attempt ended."""
        if outcome.status is RunStatus.COMPLETED:
            return await self.store.complete(
                run_id, lease=lease, result=outcome.result, steps=steps
            )
        if outcome.status is RunStatus.PAUSED:
            return await self.store.paused(
                run_id, lease=lease, message=outcome.message, steps=steps
            )
        if outcome.status is RunStatus.CANCELLED:
            return await self.store.cancelled(
                run_id, lease=lease, message=outcome.message, steps=steps
            )
        failure = Failure(outcome.message, outcome.code or "internal_error", outcome.error)
        return await self.store.fail(run_id, lease=lease, failure=failure, steps=steps)

    async def _conclude(
        self,
        run_id: str,
        lease: str,
        run: Execution,
        outcome: Outcome | None,
    ) -> None:
        """Flush progress, then write the terminal state and publish its event."""
        writer = run.writer
        await writer.close()
        if outcome is not None and outcome.recorded is not None:
            await self.broker.publish(run_id, [outcome.recorded])  # committed with the work
            return
        if outcome is None or writer.lease_lost:
            return
        steps = run.final_step_rows(outcome.status, outcome.error)
        # A busy or briefly unreachable database must not leave the run "running".
        async for attempt in AsyncRetrying(
            stop=stop_after_attempt(FINISH_ATTEMPTS),
            wait=wait_exponential_jitter(multiplier=0.1, max=2.0),
            retry=retry_if_exception_type(OperationalError),
            reraise=True,
        ):
            with attempt:
                event = await self._record(run_id, lease, outcome, steps)
        if event is not None:
            await self.broker.publish(run_id, [event])
