"""`GET /api/runs/{id}/events`: snapshot or replay, then live, then terminal and end.

The stream holds no database connection while it waits: each read is its
own short session. Events arrive through this process's hub; anything a
slow watcher's buffer could not keep is read back from the event table.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from progress_sse.api.body import is_ascii_number
from progress_sse.api.runs import caller
from progress_sse.events import END, RunEvent, retry_line
from progress_sse.fanout import Hub
from progress_sse.statuses import RunStatus
from progress_sse.store import RunStore
from progress_sse.streamcap import Slot, StreamSlots

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


async def run_events(request: Request) -> Response:
    svc, who = await caller(request)
    run = await svc.store.get_run(who.tenant_id, request.path_params["run_id"])
    run = await svc.liveness.checked(run)  # a dead worker's run ends now, not never
    stream = event_stream(
        svc.store,
        svc.hub,
        run.id,
        parse_last_event_id(request),
        retry_ms=svc.settings.retry_ms,
        page=svc.settings.replay_page,
    )
    slot = await svc.stream_slots.acquire(who.tenant_id, str(who.key_id))  # 429 over a cap
    return SlotHoldingResponse(
        svc.stream_slots,
        slot,
        stream,
        headers={"Cache-Control": "no-cache"},
        ping=svc.settings.ping_interval_s,
        ping_message_factory=lambda: ServerSentEvent(comment="ping", sep="\n"),
        sep="\n",
        # On shutdown sse-starlette waits this long before cancelling the stream, so
        # ours can end itself with a retry hint (app._close_streams_on_exit).
        shutdown_event=anyio.Event(),
        shutdown_grace_period=1.0,
    )


class SlotHoldingResponse(EventSourceResponse):
    """An event stream that gives its slot back however it ends (even if it never started)."""

    def __init__(self, slots: StreamSlots, slot: Slot, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._slots = slots
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._slots.release(self._slot)


async def _replay(store: RunStore, run_id: str, after: int, page: int) -> AsyncIterator[RunEvent]:
    while True:
        events = await store.events_after(run_id, after, page)
        for event in events:
            yield event
        if len(events) < page:
            return
        after = events[-1].seq


async def event_stream(
    store: RunStore, hub: Hub, run_id: str, last_id: int | None, *, retry_ms: int, page: int
) -> AsyncIterator[bytes]:
    """The frames of one watcher, from first `retry:` to `end`."""
    yield retry_line(retry_ms)
    with hub.subscribe(run_id) as sub:  # subscribe before reading: nothing falls between
        current = await store.get_run_any_tenant(run_id)
        seq_now = current.seq if current is not None else 0
        if last_id is None or last_id > seq_now:
            snapshot = await store.last_event(run_id)
            if snapshot is None:
                return
            hub.ready(run_id, snapshot.seq)
            yield snapshot.frame
            if snapshot.is_terminal:
                yield END
                return
            sent, catch_up = snapshot.seq, False
        elif current is not None and last_id == seq_now and RunStatus(current.status).is_terminal:
            yield END  # it has the terminal event already (the connection broke before `end`)
            return
        else:
            sent, catch_up = last_id, True
        while True:
            if catch_up:
                sub.reset_lag()
                async for event in _replay(store, run_id, sent, page):
                    yield event.frame
                    sent = event.seq
                    if event.is_terminal:
                        yield END
                        return
                catch_up = False
                hub.ready(run_id, sent)
            if not hub.closing:  # a watcher that arrives during shutdown is sent on at once
                await sub.wake.wait()
            if hub.closing:
                # Shutting down: ask the browser to come back soon (to another
                # process behind the balancer); Last-Event-ID resumes it exactly.
                yield retry_line(RECONNECT_MS)
                return
            if sub.lagged:
                catch_up = True
                continue
            for event in sub.drain():
                if event.seq <= sent:
                    continue
                yield event.frame
                sent = event.seq
                if event.is_terminal:
                    yield END
                    return
