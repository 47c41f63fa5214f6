"""Coalesced persistence of one run's progress, on its own short transactions.

A job may report a million ticks; the writer keeps only the newest one and
writes at most one batch per `interval` (about 10 per second by default),
plus every step change at once. Each batch is one transaction on the run
store: the events, the run row (which is also the heartbeat) and changed
steps. Nothing here touches the job's business transaction (issue 2, point 4).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any

from progress_sse.events import RunEvent
from progress_sse.store import LeaseLost, RunStore

log = logging.getLogger(__name__)

Publish = Callable[[str, list[RunEvent]], Awaitable[None]]


class ProgressWriter:
    """Owns seq allocation and the run row for one attempt of one run."""

    def __init__(
        self,
        store: RunStore,
        publish: Publish,
        *,
        run_id: str,
        lease: str,
        seq: int,
        interval_s: float,
        heartbeat_s: float,
    ) -> None:
        self.store = store
        self.publish = publish
        self.run_id = run_id
        self.lease = lease
        self.seq = seq
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self.cancel_requested = False
        self.lease_lost = False
        self._milestones: list[dict[str, Any]] = []
        self._latest: dict[str, Any] | None = None
        self._run_values: dict[str, Any] = {}
        self._steps: dict[int, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._urgent = False
        self._last_flush = 0.0
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"writer:{self.run_id}")

    def offer(
        self,
        data: dict[str, Any],
        run_values: dict[str, Any],
        *,
        milestone: bool,
        step: dict[str, Any] | None = None,
    ) -> None:
        """Queue a progress event; milestones (step changes) are never coalesced away."""
        if milestone:
            if self._latest is not None:
                self._milestones.append(self._latest)
                self._latest = None
            self._milestones.append(data)
            self._urgent = True
        else:
            self._latest = data
        self._run_values.update(run_values)
        if step is not None:
            self._steps[step["index"]] = step
        self._wake.set()

    def queue_step(self, step: dict[str, Any]) -> None:
        """Persist a step row with the next batch (declared steps start `pending`)."""
        self._steps[step["index"]] = step
        self._wake.set()

    @property
    def due(self) -> bool:
        """True when a flush is waiting, so the job should yield to let it run."""
        return self._wake.is_set() and (
            self._urgent or time.monotonic() - self._last_flush >= self.interval_s
        )

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with suppress(TimeoutError):  # nothing new: the flush below is a pure heartbeat
                await asyncio.wait_for(self._wake.wait(), timeout=self.heartbeat_s)
            wait = self._last_flush + self.interval_s - time.monotonic()
            if not self._urgent and wait > 0:
                with suppress(TimeoutError):  # coalesce until the interval is up, unless closing
                    await asyncio.wait_for(self._stop.wait(), timeout=wait)
            try:
                await self.flush()
            except LeaseLost:
                self.lease_lost = True
                log.warning("run %s: lease lost, stopping its writer", self.run_id)
                return
            except Exception:  # a DB hiccup must not kill the job; retry next round
                log.exception("run %s: progress write failed; will retry", self.run_id)
                await asyncio.sleep(min(self.heartbeat_s, 1.0))

    async def flush(self) -> None:
        """Write whatever is pending (or just the heartbeat) in one transaction."""
        async with self._lock:
            self._wake.clear()
            self._urgent = False
            milestones, latest = self._milestones, self._latest
            run_values, steps = self._run_values, self._steps
            self._milestones, self._latest, self._run_values, self._steps = [], None, {}, {}
            drafts = milestones + ([latest] if latest is not None else [])
            events = [
                RunEvent(self.run_id, seq, None, data | {"seq": seq})
                for seq, data in enumerate(drafts, start=self.seq + 1)
            ]
            try:
                cancel = await self.store.write_progress(
                    self.run_id, self.lease, events, run_values, list(steps.values())
                )
            except BaseException:
                # Nothing was written: put the drafts back, in their order, before
                # anything offered while the write was in flight.
                if latest is not None and (self._milestones or self._latest is not None):
                    milestones = [*milestones, latest]
                    latest = None
                self._milestones = milestones + self._milestones
                self._latest = self._latest if self._latest is not None else latest
                self._run_values = run_values | self._run_values
                self._steps = steps | self._steps
                raise
            self.seq += len(events)
            self.cancel_requested = self.cancel_requested or cancel
            self._last_flush = time.monotonic()
            self.writes += 1
        if events:
            await self.publish(self.run_id, events)

    async def close(self) -> None:
        """Stop the loop after a last flush; called before the terminal write."""
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if not self.lease_lost and (self._milestones or self._latest or self._steps):
            await self.flush()
