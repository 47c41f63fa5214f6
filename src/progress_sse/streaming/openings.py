"""How many stream openings read the database at once, and in which order.

A reconnect storm of thousands of streams must not take the whole pool
(jobs' progress writes need it too), so openings queue for a share of it.
An opening reads twice: who is asking and which run (before the response
starts: a refusal is still a status), then the snapshot (after it: the
stream is subscribed first, so nothing falls between). With one FIFO queue
for both, a stream already answered waited behind every new arrival for its
snapshot, and, not being caught up yet, got no keep-alive either: at 10,000
idle streams that wait was up to 2.8 s, and the longest silence a client saw
went past the ping interval by that much (bench/RESULTS.md, finding 6). Here
a stream already answered goes first.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class Openings:
    """A semaphore of `size` with two queues: answered streams before new openings."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._answered: deque[asyncio.Future[None]] = deque()
        self._new: deque[asyncio.Future[None]] = deque()

    @asynccontextmanager
    async def hold(self, *, answered: bool = False) -> AsyncIterator[None]:
        """One place, for the reads inside; `answered`: the response has started."""
        await self._acquire(answered)
        try:
            yield
        finally:
            self._release()

    @property
    def waiting(self) -> int:
        return len(self._answered) + len(self._new)

    async def _acquire(self, answered: bool) -> None:
        if self._free > 0:  # then nobody waits: a release hands its place to a waiter
            self._free -= 1
            return
        queue = self._answered if answered else self._new
        turn = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.cancelled():
                queue.remove(turn)  # still queued (cancellations are rare: shutdown)
            else:
                self._release()  # handed the place just as it was cancelled: pass it on
            raise

    def _release(self) -> None:
        """Hand the place to the first waiter, answered ones first; else free it."""
        queue = self._answered or self._new
        if queue:
            queue.popleft().set_result(None)
        else:
            self._free += 1
