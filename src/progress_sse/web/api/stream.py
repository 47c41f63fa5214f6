"""`GET /api/runs/{id}/events`: snapshot or replay, then live, then terminal and end.

The stream holds no database connection while it waits: each read is its
own short session. Live events are written by this process's hub (in place
while the watcher keeps up); anything a slow watcher's buffer could not keep
is read back from the event table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from progress_sse.runs.events import END, RunEvent, retry_line, wire
from progress_sse.runs.statuses import RunStatus
from progress_sse.runs.store import RunStore
from progress_sse.streaming.caps import Slot
from progress_sse.streaming.hub import Credential, Hub, Subscriber
from progress_sse.streaming.openings import Openings
from progress_sse.streaming.sse import Connection, EventStream
from progress_sse.web.api.body import is_ascii_number
from progress_sse.web.api.runs import caller
from progress_sse.web.security.auth import Principal
from progress_sse.web.services import Services, services

MAX_EVENT_ID = 2**53
RECONNECT_MS = 500  # the retry hint sent when this process shuts down


def parse_last_event_id(request: Request) -> int | None:
    """`Last-Event-ID` header or `last_event_id` query; anything odd is ignored."""
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None:
        return None
    raw = raw.strip()
    if not is_ascii_number(raw) or len(raw) > 16 or int(raw) > MAX_EVENT_ID:
        return None
    return int(raw)


async def _watched(request: Request, run_id: str, batch: bool) -> tuple[Services, Principal, str]:
    """The caller and the id of the run (or batch) it may watch (the row is not kept)."""
    async with services(request).stream_openings.hold():
        svc, who = await caller(request)
        run = await svc.store.get_run(who.tenant_id, run_id, batch=batch)
        run = await svc.liveness.checked(run)  # a dead worker's run ends now, not never
    return svc, who, run.id


async def run_events(request: Request) -> Response:
    return await events(request, request.path_params["run_id"])


async def events(request: Request, watched: str, *, batch: bool = False) -> Response:
    """A run's stream, or a batch's: the same contract, the same code."""
    svc, who, run_id = await _watched(request, watched, batch)
    last_id = parse_last_event_id(request)
    slot = await svc.stream_slots.acquire(who.tenant_id, str(who.key_id))  # 429 over a cap
    watch = Watch(svc, run_id, last_id, (who.key_id, who.session_id), slot)
    return EventStream(watch, on_close=watch.release)


class Watch:
    """What an open stream keeps: a few values in one object, no closures or request.

    Thousands of streams wait for hours; each closure, cell and frame of theirs
    is paid thousands of times (bench/RESULTS.md, finding 6).
    """

    __slots__ = ("credential", "last_id", "run_id", "slot", "svc")

    def __init__(
        self, svc: Services, run_id: str, last_id: int | None, credential: Credential, slot: Slot
    ) -> None:
        self.svc, self.run_id, self.last_id = svc, run_id, last_id
        self.credential, self.slot = credential, slot

    def __call__(self, connection: Connection) -> Coroutine[Any, Any, None]:
        """The stream's body: `write_stream` itself, with no coroutine of its own around it."""
        svc, settings = self.svc, self.svc.settings
        return write_stream(
            connection, svc.store, svc.hub, self.run_id, self.last_id,
            retry_ms=settings.retry_ms, page=settings.replay_page,
            openings=svc.stream_openings, credential=self.credential,
        )  # fmt: skip

    async def release(self) -> None:
        await self.svc.stream_slots.release(self.slot)  # however the response ends


async def _replay(store: RunStore, run_id: str, after: int, page: int) -> AsyncIterator[RunEvent]:
    while True:
        events = await store.events_after(run_id, after, page)
        for event in events:
            yield event
        if len(events) < page:
            return
        after = events[-1].seq


async def write_stream(
    out: Connection,
    store: RunStore,
    hub: Hub,
    run_id: str,
    last_id: int | None,
    *,
    retry_ms: int,
    page: int,
    openings: Openings,
    credential: Credential = None,
) -> None:
    """The frames of one watcher, from first `retry:` to `end`.

    Snapshot or replay is written by this task; then, whenever the watcher has
    caught up, the hub writes live events to the connection in place and this
    task only waits to be needed again: a write that had to wait, a lag, the
    end, a disconnect, shutdown, or the revocation of the key or session that
    opened it (then it closes without `end`: the browser comes back, and is refused).
    """
    await out.write(retry_line(retry_ms))
    # Subscribed before reading: nothing falls between. The connection's wake is the
    # subscriber's, so a client leaving wakes this task as an event does.
    with hub.subscribe(run_id, credential, wake=out.wake) as sub:
        catch_up = await _begin(out, store, hub, sub, run_id, last_id, openings)
        if catch_up is None:
            return
        try:
            await _live(out, store, hub, sub, run_id, catch_up=catch_up, page=page)
        finally:
            sub.detach()


@dataclass(frozen=True, slots=True)
class Start:
    """Where a new stream begins: what to write first, then live or a replay from `sent`.

    Only these few values outlive the opening reads, not the rows they came from: a
    watcher that waits for hours should not hold a run's row and its JSON all along.
    """

    frame: bytes = b""
    done: bool = False
    sent: int = 0
    catch_up: bool = False  # False: `frame` is the snapshot, and live events follow it


async def _begin(
    out: Connection, store: RunStore, hub: Hub, sub: Subscriber, run_id: str,
    last_id: int | None, openings: Openings,
) -> bool | None:  # fmt: skip
    """Write the snapshot (or nothing, before a replay); None if the stream is over."""
    async with openings.hold(answered=True):  # before new openings: its client waits
        start = await _starting_point(store, run_id, last_id)
    if start.frame:
        await out.write(start.frame)
    if start.done:
        return None
    if not start.catch_up:
        hub.ready(run_id, start.sent)
    sub.sent = start.sent
    return start.catch_up


async def _starting_point(store: RunStore, run_id: str, last_id: int | None) -> Start:
    current = await store.get_run_any_tenant(run_id)
    seq_now = current.seq if current is not None else 0
    if last_id is None or last_id > seq_now:
        snapshot = await store.last_event(run_id)
        if snapshot is None:
            return Start(done=True)
        return Start(frame=wire([snapshot]), done=snapshot.is_terminal, sent=snapshot.seq)
    if current is not None and last_id == seq_now and RunStatus(current.status).is_terminal:
        return Start(frame=END, done=True)  # it has the terminal event (the connection broke)
    return Start(sent=last_id, catch_up=True)


async def _live(
    out: Connection, store: RunStore, hub: Hub, sub: Subscriber, run_id: str,
    *, catch_up: bool, page: int,
) -> None:  # fmt: skip
    while not out.disconnected and not sub.revoked:
        if catch_up:
            sub.reset_lag()
            # A terminal event ends the stream only if nothing follows it: a resumed run's
            # history holds an earlier attempt's ending, and its replay goes on past it.
            ending: RunEvent | None = None
            async for event in _replay(store, run_id, sub.sent, page):
                if out.disconnected:
                    return  # nobody is reading: stop paging through the table
                if ending is not None:
                    await out.write(ending.frame)  # followed by a resume: not the end
                    ending = None
                if event.is_terminal:
                    ending = event  # written once we know whether anything follows
                else:
                    await out.write(event.frame)
                sub.sent = event.seq
            if ending is not None:
                await out.write(wire([ending]))  # the run's ending, then `end`
                return
            catch_up = False
            hub.ready(run_id, sub.sent)
        await out.settled()  # a write the hub started must finish before ours
        if sub.finished:
            return  # the terminal event and `end` were written in place
        if sub.lagged:  # before draining: what a lagged buffer holds has gaps before it
            catch_up = True
            continue
        for event in sub.drain():
            if event.seq <= sub.sent:
                continue
            sub.sent = event.seq
            await out.write(wire([event]))
            if event.is_terminal:
                return
        if hub.closing:
            # Shutting down: ask the browser to come back soon (to another
            # process behind the balancer); Last-Event-ID resumes it exactly.
            await out.write(retry_line(RECONNECT_MS))
            return
        if out.busy or out.disconnected or sub.lagged or len(sub):
            continue
        sub.attach(out)  # caught up: the hub writes in place from here
        await sub.wake.wait()
        sub.detach()
