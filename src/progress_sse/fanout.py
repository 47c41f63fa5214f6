"""In-process fan-out: one channel per run per process, a bounded buffer per watcher.

A watcher that reads slowly never makes memory grow: consecutive progress
ticks of the same step state are conflated to the latest one, step changes
and terminal events are queued, and when the queue reaches its bound the
watcher is marked `lagged` and catches up from the event table instead.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from progress_sse.events import RunEvent


@dataclass(slots=True)
class HubStats:
    delivered: int = 0
    conflated: int = 0
    lagged: int = 0


class Subscriber:
    """One watcher's buffer: at most `bound` queued events plus one conflatable tick."""

    __slots__ = ("_latest", "_queue", "_stats", "bound", "high_water", "lagged", "wake")

    def __init__(self, bound: int, stats: HubStats) -> None:
        self.bound = bound
        self._queue: deque[RunEvent] = deque()
        self._latest: RunEvent | None = None
        self._stats = stats
        self.lagged = False
        self.high_water = 0
        self.wake = asyncio.Event()

    def __len__(self) -> int:
        return len(self._queue) + (self._latest is not None)

    def push(self, event: RunEvent) -> None:
        latest = self._latest
        if event.event is None and latest is not None and latest.step_key == event.step_key:
            self._latest = event  # same step state: only the newest tick matters
            self._stats.conflated += 1
        else:
            if latest is not None:
                self._enqueue(latest)
            self._latest = None
            if event.event is None:
                self._latest = event
            else:
                self._enqueue(event)
        self.high_water = max(self.high_water, len(self))
        self.wake.set()

    def _enqueue(self, event: RunEvent) -> None:
        if self.lagged:
            return
        if len(self._queue) >= self.bound:
            # Too far behind: drop the buffer; the stream replays from the database.
            self._queue.clear()
            self.lagged = True
            self._stats.lagged += 1
            return
        self._queue.append(event)

    def drain(self) -> list[RunEvent]:
        """Everything buffered, oldest first; clears the wake flag."""
        events = list(self._queue)
        self._queue.clear()
        if self._latest is not None:
            events.append(self._latest)
            self._latest = None
        self.wake.clear()
        self._stats.delivered += len(events)
        return events

    def reset_lag(self) -> None:
        self._queue.clear()
        self._latest = None
        self.lagged = False


@dataclass(slots=True)
class Channel:
    subscribers: set[Subscriber] = field(default_factory=set)
    last_seq: int = 0
    # A new channel learns its starting point from its first watcher (`ready`);
    # hints that arrive before are remembered, not acted on.
    ready: bool = False
    hinted: int = 0
    fetching: asyncio.Task[None] | None = None


Fetch = Callable[[str, int], Awaitable[list[RunEvent]]]  # (run_id, after_seq) -> events


class Hub:
    """Routes a run's events to the watchers of this process."""

    def __init__(self, buffer_bound: int, fetch: Fetch | None = None) -> None:
        self.buffer_bound = buffer_bound
        self.channels: dict[str, Channel] = {}
        self.stats = HubStats()
        self.fetch = fetch  # reads missed events from the table (cross-process hints)
        self.closing = False

    @contextmanager
    def subscribe(self, run_id: str) -> Iterator[Subscriber]:
        channel = self.channels.get(run_id)
        if channel is None:
            channel = self.channels[run_id] = Channel()
        sub = Subscriber(self.buffer_bound, self.stats)
        channel.subscribers.add(sub)
        try:
            yield sub
        finally:
            channel.subscribers.discard(sub)
            if not channel.subscribers and self.channels.get(run_id) is channel:
                del self.channels[run_id]

    def deliver(self, run_id: str, events: list[RunEvent]) -> None:
        channel = self.channels.get(run_id)
        if channel is None:
            return
        for event in events:
            if event.seq <= channel.last_seq:
                continue  # a hint and a direct delivery may carry the same event
            channel.last_seq = event.seq
            for sub in channel.subscribers:
                sub.push(event)

    def ready(self, run_id: str, seq: int) -> None:
        """The first watcher has read the table up to `seq`: hints after it are fetched."""
        channel = self.channels.get(run_id)
        if channel is None or channel.ready:
            return
        channel.ready = True
        channel.last_seq = max(channel.last_seq, seq)
        if channel.hinted > channel.last_seq:
            self._fetch_soon(run_id, channel)

    def hint(self, run_id: str, seq: int) -> None:
        """Another process wrote events of `run_id` up to `seq` (a NOTIFY)."""
        channel = self.channels.get(run_id)
        if channel is None:
            return  # nobody here watches it
        channel.hinted = max(channel.hinted, seq)
        if channel.ready and seq > channel.last_seq:
            self._fetch_soon(run_id, channel)

    def resync(self) -> None:
        """After a lost listener connection: read whatever every channel may have missed."""
        for run_id, channel in self.channels.items():
            if channel.ready:
                self._fetch_soon(run_id, channel)

    def _fetch_soon(self, run_id: str, channel: Channel) -> None:
        if self.fetch is None or (channel.fetching is not None and not channel.fetching.done()):
            return  # one read per run per process; it loops until it has caught up
        channel.fetching = asyncio.get_running_loop().create_task(self._catch_up(run_id, channel))

    async def _catch_up(self, run_id: str, channel: Channel) -> None:
        assert self.fetch is not None
        for _ in range(1000):  # bounded; a hint is only sent once its events are committed
            if self.channels.get(run_id) is not channel:
                return
            events = await self.fetch(run_id, channel.last_seq)
            if events:
                self.deliver(run_id, events)
            elif channel.hinted <= channel.last_seq:
                return
            else:
                await asyncio.sleep(0.01)

    def close(self) -> None:
        """The process is stopping: wake every watcher so its stream can end cleanly."""
        self.closing = True
        for channel in self.channels.values():
            for sub in channel.subscribers:
                sub.wake.set()

    @property
    def watchers(self) -> int:
        return sum(len(c.subscribers) for c in self.channels.values())
