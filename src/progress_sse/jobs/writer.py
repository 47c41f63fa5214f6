"""Coalesced persistence of one run's progress, on its own short transactions.

A job may report a million ticks; a tick only marks the run dirty, and the
writer makes at most one write per `interval` (10 per second by default): a
snapshot of the newest state, plus every milestone (a step change) offered
since the last write, each its own event, never coalesced away. A write
after a quiet spell happens at once. Each write is atomic on the run store:
the events, the run row (which is also the heartbeat) and changed steps,
in one transaction shared with the process's other runs' writes ready at the
same moment (jobs/groupcommit.py). Nothing here touches the job's
business transaction (docs/architecture.md, two transactions).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import DBAPIError

from progress_sse.jobs.groupcommit import ProgressStore
from progress_sse.ops.tasks import ThrottledWarning
from progress_sse.runs.events import RunEvent
from progress_sse.runs.store import LeaseLost
from progress_sse.wire import ProgressEventJson

log = logging.getLogger(__name__)

Publish = Callable[[str, list[RunEvent]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Draft:
    """An event before it has a seq: its data, the run columns it sets, its step row."""

    data: ProgressEventJson
    run_values: dict[str, Any]
    step: dict[str, Any] | None = None


Snapshot = Callable[[], Draft]


class ProgressWriter:
    """Owns seq allocation and the run row for one attempt of one run."""

    def __init__(
        self,
        store: ProgressStore,
        publish: Publish,
        *,
        run_id: str,
        lease: str,
        seq: int,
        interval_s: float,
        heartbeat_s: float,
        snapshot: Snapshot | None = None,
        on_lease_lost: Callable[[], object] | None = None,
    ) -> None:
        """`snapshot()` builds the newest state at each write; `on_lease_lost()` is called
        when the run is found to be no longer ours (declared stale, reset by an admin), so
        the runner stops the job within one heartbeat, not at its end."""
        self.store = store
        self.publish = publish
        self.run_id = run_id
        self.lease = lease
        self.seq = seq
        self.interval_s = interval_s
        self.heartbeat_s = heartbeat_s
        self._snapshot = snapshot
        # A held row or a lost connection repeats every round: one line a minute, no traceback.
        self._warn = ThrottledWarning(log, f"run {run_id}: progress write failed (%s); will retry")
        self._on_lease_lost = on_lease_lost
        self.cancel_requested = False
        self.pause_requested = False
        self.lease_lost = False
        self.writes = 0
        self._milestones: list[Draft] = []
        self._dirty = False
        self._steps: dict[int, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._last_flush = 0.0
        self._held: list[RunEvent] = []  # committed, shown with the next write (`_hold`)
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"writer:{self.run_id}")

    def mark_dirty(self) -> None:
        """A tick: the newest state will be snapshotted at the next flush. Once closed, the
        terminal write is the record: a late tick (a lock wait shown while the ending's
        transaction waits) must not flush to a run that has ended."""
        if self._stop.is_set():
            return
        self._dirty = True
        if not self._wake.is_set():
            self._wake.set()

    def offer_milestone(self, draft: Draft) -> None:
        """A step change: persisted as its own event, never coalesced away."""
        self._milestones.append(draft)
        self._dirty = False  # the milestone is the newest state
        self._wake.set()

    def queue_step(self, step: dict[str, Any]) -> None:
        """Persist a step row with the next batch."""
        self._steps[step["index"]] = step
        self._wake.set()

    @property
    def due(self) -> bool:
        """True when a flush is waiting, so the job should yield to let it run."""
        return (
            self._wake.is_set()
            and not self._lock.locked()  # a flush in flight will pick the tick up anyway
            and time.monotonic() - self._last_flush >= self.interval_s
        )

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with suppress(TimeoutError):  # nothing new: the flush below is a pure heartbeat
                await asyncio.wait_for(self._wake.wait(), timeout=self.heartbeat_s)
            wait = self._last_flush + self.interval_s - time.monotonic()
            if wait > 0:  # at most one write per interval, step changes included
                with suppress(TimeoutError):  # coalesce until the interval is up, unless closing
                    await asyncio.wait_for(self._stop.wait(), timeout=wait)
            try:
                await self.flush()
            except LeaseLost:
                self.lease_lost = True
                log.warning("run %s: lease lost, stopping its writer", self.run_id)
                if self._on_lease_lost is not None:
                    self._on_lease_lost()
                return
            except DBAPIError as exc:  # a DB hiccup (a held row, a lost connection): retry
                self._warn(exc)
                await asyncio.sleep(min(self.heartbeat_s, 1.0))
            except Exception:  # anything else is a bug: its traceback belongs in the log
                log.exception("run %s: progress write failed; will retry", self.run_id)
                await asyncio.sleep(min(self.heartbeat_s, 1.0))

    async def flush(self) -> None:
        """Write whatever is pending (or just the heartbeat) in one transaction, then show it
        (or hold it for the write that follows at once: `_hold`)."""
        try:
            events = await self._write()
        except BaseException:
            await self._publish_held()  # committed by an earlier write: show them now
            raise
        if events:
            await self.publish(self.run_id, events)

    async def _write(self) -> list[RunEvent]:
        """The write itself; returns the committed events to show now."""
        async with self._lock:
            self._wake.clear()
            milestones, queued, dirty = self._milestones, self._steps, self._dirty
            drafts = list(milestones)
            if dirty and self._snapshot is not None:
                drafts.append(self._snapshot())
            self._milestones, self._dirty, self._steps = [], False, {}
            steps = dict(queued)
            for draft in drafts:
                if draft.step is not None:
                    steps[draft.step["index"]] = draft.step
            events = [
                RunEvent(self.run_id, seq, None, draft.data | {"seq": seq})
                for seq, draft in enumerate(drafts, start=self.seq + 1)
            ]
            run_values: dict[str, Any] = {}
            for draft in drafts:
                run_values.update(draft.run_values)
            try:
                asked = await self.store.write_progress(
                    self.run_id, self.lease, events, run_values, list(steps.values())
                )
            except BaseException:
                # Nothing was written: keep the milestones, in order, before anything
                # offered meanwhile; a tick is simply re-snapshotted next time.
                self._milestones = milestones + self._milestones
                self._dirty = self._dirty or dirty
                self._steps = queued | self._steps
                raise
            self.seq += len(events)
            self.cancel_requested = self.cancel_requested or asked.cancel
            self.pause_requested = self.pause_requested or asked.pause
            self._last_flush = time.monotonic()
            self.writes += 1
            if events and self._hold():
                self._held.extend(events)
                return []
            events, self._held = self._held + events, []
            return events

    def _hold(self) -> bool:
        """Show these committed events together with the write that follows at once?

        A burst of step changes (a job's first steps often change within a few
        milliseconds) would otherwise cost one delivery to every watcher per
        write, each after the last: with a thousand watchers those sweeps, not
        the writes, were the wait (bench/RESULTS.md). When more step changes
        were offered during this write and the next write may start now, the
        events wait for it, one write long, and every socket gets both in one
        write. Never twice in a row, and never when the next write would wait
        for its interval, so no event waits longer than one more write.
        """
        return (
            not self._held
            and bool(self._milestones)
            and not self._stop.is_set()
            and time.monotonic() - self._last_flush >= self.interval_s
        )

    async def _publish_held(self) -> None:
        held, self._held = self._held, []
        if held:
            await self.publish(self.run_id, held)

    async def close(self) -> None:
        """Stop the loop after a last flush; called before the terminal write."""
        self._on_lease_lost = None  # the job is over: nothing left to stop
        self._stop.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None
        if not self.lease_lost and (self._milestones or self._dirty or self._steps):
            try:
                await self.flush()
            except DBAPIError as exc:  # the terminal write that follows is the record
                self._warn(exc)
        await self._publish_held()
