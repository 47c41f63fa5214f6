"""One background task that repeats an action (stale sweeps, retention)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from progress_sse.ops.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Periodic:
    """Runs `action` every `interval_s`; a failure is logged and the next round comes."""

    def __init__(
        self, name: str, interval_s: float, action: Callable[[], Awaitable[object]]
    ) -> None:
        self.name, self.interval_s, self.action = name, interval_s, action
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.action()
            except Exception:
                log.exception("%s failed; next round in %ss", self.name, self.interval_s)
