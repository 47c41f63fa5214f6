"""Small helpers for the background tasks every long-lived object owns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time


async def cancel_and_wait(*tasks: asyncio.Task[object] | asyncio.Task[None] | None) -> None:
    """Cancel the tasks and wait until each has really ended."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    for task in live:
        with contextlib.suppress(asyncio.CancelledError):
            await task


class ThrottledWarning:
    """Logs a recurring problem at most once per `every_s` (an outage must not flood logs)."""

    def __init__(self, logger: logging.Logger, message: str, every_s: float = 60.0) -> None:
        self.logger, self.message, self.every_s = logger, message, every_s
        self._last = -math.inf

    def __call__(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.logger.warning(self.message, type(exc).__name__)
