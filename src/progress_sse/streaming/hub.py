"""In-process fan-out: one channel per run per process, a bounded buffer per watcher.

A watcher that keeps up is written to in place: its stream hands the hub a
`Sink` once it has sent everything buffered, and each event's bytes (encoded
once per process) go straight to its connection, with no task woken. When a
write has to wait (the client reads slowly), the watcher falls back to its
buffer, which never makes memory grow: consecutive progress ticks of the
same step state are conflated to the latest one, step changes and terminal
events are queued, and when the queue reaches its bound the watcher is
marked `lagged` and catches up from the event table instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from progress_sse.runs.events import PING, RunEvent, wire
from progress_sse.streaming.wake import Wake

# Larger writes go through the stream's own task, which waits for the client to read.
MAX_WRITE_IN_PLACE = 64 * 1024


class Sink(Protocol):
    """A caught-up stream's connection, written to by the hub."""

    last_write: float  # time.monotonic() of the last write

    def write_now(self, body: bytes) -> bool:
        """True if written; False if the write must wait (the stream then takes over)."""
        ...


@dataclass(slots=True)
class HubStats:
    delivered: int = 0
    conflated: int = 0
    lagged: int = 0


Credential = tuple[int, str | None] | None  # (key id, browser session id) of a stream


class Subscriber:
    """One watcher: written in place while caught up, else a bounded buffer.

    The buffer holds at most `bound` queued events plus one conflatable tick.
    `sent` is the seq of the last event its stream has written (or handed to
    the connection); nothing at or below it is delivered again.
    """

    __slots__ = (
        "_latest", "_queue", "_stats", "bound", "credential", "finished", "high_water",
        "lagged", "revoked", "sent", "sink", "wake",
    )  # fmt: skip

    def __init__(
        self, bound: int, stats: HubStats, credential: Credential = None, wake: Wake | None = None
    ) -> None:
        self.bound = bound
        self._queue: list[RunEvent] = []  # an empty deque costs a 600-byte block per watcher
        self._latest: RunEvent | None = None
        self._stats = stats
        self.lagged = False
        self.high_water = 0
        # The stream's connection sets it too, when the client leaves (sse.py).
        self.wake = wake if wake is not None else Wake()
        self.sent = 0
        self.sink: Sink | None = None
        self.finished = False  # the terminal event and `end` were written in place
        self.credential = credential  # (key id, browser session id) that opened the stream
        self.revoked = False  # that key or session was revoked: the stream ends now

    def __len__(self) -> int:
        return len(self._queue) + (self._latest is not None)

    def attach(self, sink: Sink) -> None:
        """The stream has written everything buffered: deliver the next events in place."""
        if self._queue or self._latest is not None:
            raise RuntimeError("attach with events still buffered would reorder them")
        self.sink = sink

    def detach(self) -> None:
        self.sink = None

    def _fall_back(self) -> None:
        """A write in place had to wait: the stream finishes it, then drains the buffer."""
        self.sink = None
        self.wake.set()

    def push(self, event: RunEvent) -> None:
        """One event: written in place if caught up, else buffered."""
        self.push_batch([event], wire([event]))

    def push_batch(self, events: list[RunEvent], body: bytes) -> None:
        """Events in seq order, and `body`, their `wire` bytes (encoded once for all)."""
        if events[0].seq <= self.sent:  # a snapshot read can overtake its own delivery
            events = [event for event in events if event.seq > self.sent]
            if not events:
                return
            body = wire(events)
        sink = self.sink
        if sink is not None and len(body) > MAX_WRITE_IN_PLACE:
            # A server buffers a write whole: a stalled watcher must not cost megabytes.
            # The stream writes them itself, each send waiting for the client to read.
            self._fall_back()
            sink = None
        if sink is None:
            for event in events:
                self._buffer(event)
            return
        last = events[-1]
        self.sent = last.seq
        self._stats.delivered += len(events)
        if last.is_terminal:
            self.finished = True
            sink.write_now(body)
            self._fall_back()
        elif not sink.write_now(body):
            self._fall_back()

    def _buffer(self, event: RunEvent) -> None:
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
        events, self._queue = self._queue, []
        if self._latest is not None:
            events.append(self._latest)
            self._latest = None
        self.wake.clear()
        self._stats.delivered += len(events)
        return events

    def ping(self, silent_since: float) -> None:
        """A keep-alive comment, if caught up and nothing was written since `silent_since`."""
        sink = self.sink
        if sink is not None and sink.last_write <= silent_since and not sink.write_now(PING):
            self._fall_back()

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
    def subscribe(
        self, run_id: str, credential: Credential = None, *, wake: Wake | None = None
    ) -> Iterator[Subscriber]:
        """A watcher of `run_id`, woken through `wake` (its connection's, see sse.py)."""
        channel = self.channels.get(run_id)
        if channel is None:
            channel = self.channels[run_id] = Channel()
        sub = Subscriber(self.buffer_bound, self.stats, credential, wake)
        channel.subscribers.add(sub)
        try:
            yield sub
        finally:
            channel.subscribers.discard(sub)
            if not channel.subscribers and self.channels.get(run_id) is channel:
                del self.channels[run_id]

    def deliver(self, run_id: str, events: list[RunEvent]) -> None:
        """Hand a run's new events (in seq order) to its watchers here.

        Several events at once (a burst of step changes) reach a caught-up
        watcher as one write, encoded once for all.
        """
        channel = self.channels.get(run_id)
        if channel is None:
            return
        # A hint and a direct delivery may carry the same event.
        fresh = [event for event in events if event.seq > channel.last_seq]
        if not fresh:
            return
        channel.last_seq = fresh[-1].seq
        body = wire(fresh)
        for sub in channel.subscribers:
            sub.push_batch(fresh, body)

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

    def offer(self, run_id: str, events: list[RunEvent]) -> None:
        """Another process's committed events (consecutive, carried by its NOTIFY): delivered
        now if they follow what was delivered here; else ignored, and its hint reads them."""
        channel = self.channels.get(run_id)
        if channel is not None and channel.ready and events[0].seq <= channel.last_seq + 1:
            self.deliver(run_id, events)

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

    def ping_idle(self, silent_since: float) -> None:
        """Keep-alive for every caught-up watcher that has heard nothing since `silent_since`."""
        for channel in list(self.channels.values()):
            for sub in list(channel.subscribers):
                sub.ping(silent_since)

    def revoke(self, keys: set[int], sessions: set[str]) -> int:
        """End the streams opened with any of these keys or browser sessions; how many.

        Each is detached from in-place writes and woken; its stream then closes
        without `end`, so a browser reconnects and is refused (401).
        """
        ended = 0
        for channel in self.channels.values():
            for sub in channel.subscribers:
                if sub.credential is None or sub.revoked:
                    continue
                key_id, session_id = sub.credential
                if key_id in keys or session_id in sessions:
                    sub.revoked = True
                    sub.detach()
                    sub.wake.set()
                    ended += 1
        return ended

    def close(self) -> None:
        """The process is stopping: wake every watcher so its stream can end cleanly."""
        self.closing = True
        for channel in self.channels.values():
            for sub in channel.subscribers:
                sub.wake.set()

    @property
    def watchers(self) -> int:
        return sum(len(c.subscribers) for c in self.channels.values())
