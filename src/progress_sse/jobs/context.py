"""What a job sees: its run, steps, progress, messages, cancellation, its business transaction.

Everything here is for job authors; the runner's own handle on the same run
is `Execution` (jobs/execution.py), which a job never gets.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.jobs.execution import Execution


class JobContext:
    """Handed to a job coroutine by the runner; every `await` on it is also a cancellation
    checkpoint (a cancel raises `RunCancelled` there, and the runner rolls back)."""

    __slots__ = ("_run",)

    def __init__(self, execution: Execution) -> None:
        self._run = execution

    @property
    def run_id(self) -> str:
        """The run's id: what its events, its URL and anything the job records refer to."""
        return self._run.run_id

    @property
    def tenant_id(self) -> str:
        """The tenant that started the run: scope every query by it."""
        return self._run.tenant_id

    @property
    def attempt(self) -> int:
        """1 for the first attempt; a resumed run counts on (2, 3, ...)."""
        return self._run.attempt

    @property
    def created_by(self) -> str | None:
        """Who started the run (an API key's prefix): record it on what the job writes."""
        return self._run.created_by

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose lines name the run and the tenant."""
        return self._run.log

    # -- steps and progress ----------------------------------------------------------

    def step(
        self, name: str, *, total: int | None = None, message: str = ""
    ) -> AbstractAsyncContextManager[object]:
        """`async with ctx.step("load"):` marks the declared step in progress, then completed.

        `total` makes `progress(processed=...)` move the bar across the step's slice.
        """
        return self._run.step(name, total=total, message=message)

    async def enter_step(self, name: str, *, total: int | None = None, message: str = "") -> None:
        """Finish the step in progress (if any) and start `name` (for a last step that
        ends when the job returns, after which the runner commits)."""
        await self._run.enter_step(name, total=total, message=message)

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

        Cheap enough to call for every item: it records the numbers, and the run's
        writer turns the newest state into one event at most every
        `PROGRESS_SSE_PROGRESS_INTERVAL_S`. `skipped` counts items passed over on purpose.
        """
        await self._run.progress(
            processed=processed, total=total, fraction=fraction, percentage=percentage,
            message=message, skipped=skipped,
        )  # fmt: skip

    async def skip(self, count: int = 1, message: str | None = None) -> None:
        """Count items passed over on purpose (they are not failures)."""
        await self._run.skip(count, message)

    async def set_message(self, message: str) -> None:
        """The line under the bar, without moving it."""
        await self._run.set_message(message)

    async def note(self, message: str) -> None:
        """An event of its own that is never conflated away (a refused import row, say)."""
        await self._run.note(message)

    async def checkpoint(self) -> None:
        """Raise `RunCancelled` once a cancel was requested (in any process)."""
        await self._run.checkpoint()

    # -- the business database ---------------------------------------------------------

    async def session(self, *, read_only: bool = False) -> AsyncSession:
        """The run's business session: its one transaction is committed by the runner after
        the job returns (then `complete` is sent), rolled back if it raises or is cancelled
        (then `error` or `cancelled`). On SQLite a writing session waits its turn for the
        database's one write lock, and the bar says so."""
        return await self._run.session(read_only=read_only)

    def chunk(self, *, read_only: bool = False) -> AbstractAsyncContextManager[AsyncSession]:
        """`async with ctx.chunk() as session:` a transaction of its own, committed when the
        block ends: chunks committed before a failure stay, which makes a kind resumable."""
        return self._run.chunk(read_only=read_only)
