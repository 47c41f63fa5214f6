"""The job runner: claims pending runs and executes each as a background task.

A run's task belongs to the runner, never to an HTTP request or a watcher,
so closing a browser cannot stop a job. The order of the ending is the
contract: business COMMIT returns, then the run is marked `completed` and
`complete` is published; on failure ROLLBACK returns before `error`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.broker import Broker
from progress_sse.context import JobContext
from progress_sse.errors import JobError, RunCancelled
from progress_sse.jobs import JobRegistry
from progress_sse.models import Run
from progress_sse.settings import Settings
from progress_sse.statuses import RunStatus
from progress_sse.store import LeaseLost, RunStore
from progress_sse.writer import ProgressWriter

log = logging.getLogger(__name__)

GENERIC_FAILURE = "The job failed unexpectedly. The details are in the server log (run {run_id})."


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Runner:
    """Runs at most `job_concurrency` jobs at once in this process."""

    def __init__(
        self,
        settings: Settings,
        store: RunStore,
        registry: JobRegistry,
        broker: Broker,
        business: async_sessionmaker[AsyncSession],
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.broker = broker
        self.business = business
        self.worker_id = worker_identity()
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.contexts: dict[str, JobContext] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._claim_loop(), name="runner")

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

    def wake(self) -> None:
        """A run was created here: look for work now rather than at the next poll."""
        self._wake.set()

    def request_cancel(self, run_id: str) -> None:
        """Fast path when the run executes in this process; others see the DB flag."""
        ctx = self.contexts.get(run_id)
        if ctx is not None:
            ctx.cancel_requested = True

    async def _claim_loop(self) -> None:
        while True:
            try:
                await self._claim_some()
            except Exception:
                log.exception("claiming pending runs failed; retrying")
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.poll_interval_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _claim_some(self) -> None:
        free = self.settings.job_concurrency - len(self.tasks)
        if free <= 0:
            return
        for run_id in await self.store.pending_ids(free):
            run = await self.store.claim(run_id, self.worker_id, secrets.token_hex(16))
            if run is not None:
                task = asyncio.create_task(self._execute(run), name=f"run:{run.id}")
                self.tasks[run.id] = task
                task.add_done_callback(lambda _t, rid=run.id: self._done(rid))

    def _done(self, run_id: str) -> None:
        self.tasks.pop(run_id, None)
        self.contexts.pop(run_id, None)
        self._wake.set()  # a slot is free

    async def _execute(self, run: Run) -> None:
        assert run.lease_token is not None
        lease = run.lease_token
        logger = logging.LoggerAdapter(log, {"run_id": run.id, "tenant": run.tenant_id})
        writer = ProgressWriter(
            self.store,
            self.broker.publish,
            run_id=run.id,
            lease=lease,
            seq=run.seq,
            interval_s=self.settings.progress_interval_s,
            heartbeat_s=self.settings.heartbeat_interval_s,
        )
        writer.start()
        try:
            kind = self.registry.get(run.kind)
            params = kind.params.model_validate(run.params)
        except Exception as exc:
            await writer.close()
            await self._finish(run, lease, RunStatus.FAILED, "The run's parameters are invalid.",
                               code="invalid_params", error=str(exc), steps=[])
            return
        ctx = JobContext(
            run_id=run.id, tenant_id=run.tenant_id, attempt=run.attempt,
            writer=writer, business=self.business, steps=kind.steps, log=logger,
        )
        self.contexts[run.id] = ctx
        await self._run_job(run, lease, kind.run, params, ctx, writer, logger)

    async def _run_job(
        self, run: Run, lease: str, fn: Any, params: Any, ctx: JobContext,
        writer: ProgressWriter, logger: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        """Run the coroutine; commit-then-complete, or rollback-then-error/cancelled."""
        status, message, code, error, result = RunStatus.FAILED, "", None, None, None
        try:
            result = await fn(ctx, params)
            await ctx.checkpoint()  # a cancel that came during the last step still wins
            await ctx.commit()
            status, message = RunStatus.COMPLETED, "Completed."
        except RunCancelled:
            await ctx.rollback()
            status, message, code = RunStatus.CANCELLED, "Cancelled; nothing was changed.", "cancelled"
        except LeaseLost:
            await ctx.rollback()
            logger.warning("run %s: lease lost; rolled back and left it to its new owner", run.id)
            await ctx.close()
            await writer.close()
            return
        except JobError as exc:
            await ctx.rollback()
            message, code, error = exc.message, exc.code, exc.message
        except asyncio.CancelledError:
            await asyncio.shield(self._abort(run, lease, ctx, writer))
            raise
        except Exception as exc:
            logger.exception("run %s failed", run.id)
            await ctx.rollback()
            message, code = GENERIC_FAILURE.format(run_id=run.id), "internal_error"
            error = message
            del exc
        finally:
            await ctx.close()
        await writer.close()
        await self._finish(run, lease, status, message, code=code, error=error,
                           result=result if status is RunStatus.COMPLETED else None,
                           steps=ctx.final_step_rows(status, error))

    async def _abort(self, run: Run, lease: str, ctx: JobContext, writer: ProgressWriter) -> None:
        """The process is shutting down mid-job: roll back and say so."""
        await ctx.rollback()
        await ctx.close()
        await writer.close()
        message = "The worker stopped before the run finished; nothing was changed."
        await self._finish(run, lease, RunStatus.FAILED, message, code="interrupted",
                           error=message, steps=ctx.final_step_rows(RunStatus.FAILED, message))

    async def _finish(
        self, run: Run, lease: str, status: RunStatus, message: str, *, code: str | None,
        error: str | None, steps: list[dict[str, Any]], result: dict[str, Any] | None = None,
    ) -> None:
        event = await self.store.finish(
            run.id, lease=lease, status=status, message=message,
            error_code=code, error=error, result=result, steps=steps,
        )
        if event is not None:
            await self.broker.publish(run.id, [event])
