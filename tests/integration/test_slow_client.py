"""A watcher that stops reading costs a bounded buffer and never slows the job."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

from pydantic import BaseModel

from progress_sse.jobs.context import JobContext
from progress_sse.jobs.kinds import JobKind
from progress_sse.runs.progress import StepSpec
from tests.proxy import dechunk
from tests.support import collect, run_server, run_status, start_run, transitions, wait_for
from tests.whatwg_sse import parse

STEPS = tuple(StepSpec(f"s{i}", i / 2, (i + 1) / 2) for i in range(150))
BIG = "x" * 8000


class NoParams(BaseModel):
    pass


async def chatty_job(ctx: JobContext, _params: NoParams) -> dict[str, Any]:
    """150 steps, each a milestone that is never conflated, with an 8 KB message."""
    for spec in STEPS:
        async with ctx.step(spec.name, message=BIG):
            await ctx.progress(fraction=0.5, message=BIG)
    return {"steps": len(STEPS)}


def stalled_reader(port: int, path: str, key: str) -> socket.socket:
    """A raw HTTP client with a tiny receive window that reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        "Last-Event-ID: 0\r\n\r\n".encode()
    )
    return sock


async def test_stalled_watcher_is_bounded_and_the_job_finishes(make_settings) -> None:  # type: ignore[no-untyped-def]
    chatty = JobKind(name="chatty", params=NoParams, run=chatty_job, steps=STEPS)
    settings = make_settings(client_buffer=8, progress_interval_s=0.0)
    async with run_server(settings, jobs=[chatty]) as srv, srv.client() as client:
        hub = srv.services.hub
        run_id = await start_run(client, "chatty")
        port = int(srv.base_url.rsplit(":", 1)[1])
        sock = await asyncio.to_thread(
            stalled_reader, port, f"/api/runs/{run_id}/events", srv.keys["acme"]
        )
        try:
            await wait_for(lambda: _has_watcher(hub, run_id))
            subscriber = next(iter(hub.channels[run_id].subscribers))
            # The job ends on time although its only watcher reads nothing.
            state = await wait_for(lambda: _completed(client, run_id), limit_s=60)
            assert state["status"] == "completed"
            assert subscriber.high_water <= settings.client_buffer + 1
            assert hub.stats.lagged >= 1, "the watcher really fell behind its bound"
        finally:
            sock.close()
        # A fresh watcher from the start sees every step and the terminal event.
        frames = await collect(client, f"/api/runs/{run_id}/events", headers={"Last-Event-ID": "0"})
    seen = transitions(frames)
    assert len([t for t in seen if t[1:] == ("completed",)]) == 150
    assert seen[-1] == ("complete",)


async def _has_watcher(hub: Any, run_id: str) -> bool:
    return run_id in hub.channels


async def _completed(client: Any, run_id: str) -> dict[str, Any] | None:
    state = await run_status(client, run_id)
    return state if state["status"] == "completed" else None


async def test_lagged_watcher_catches_up_from_the_table_without_gaps(make_settings) -> None:  # type: ignore[no-untyped-def]
    """A watcher that stops reading, then reads again, gets every event in order."""
    chatty = JobKind(name="chatty", params=NoParams, run=chatty_job, steps=STEPS)
    settings = make_settings(client_buffer=4, progress_interval_s=0.0)
    async with run_server(settings, jobs=[chatty]) as srv, srv.client() as client:
        run_id = await start_run(client, "chatty")
        port = int(srv.base_url.rsplit(":", 1)[1])
        sock = await asyncio.to_thread(
            stalled_reader, port, f"/api/runs/{run_id}/events", srv.keys["acme"]
        )
        try:
            await wait_for(lambda: _completed(client, run_id), limit_s=60)
            assert srv.services.hub.stats.lagged >= 1, "the watcher really fell behind"
            raw = await asyncio.to_thread(read_to_end, sock, 30.0)
        finally:
            sock.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    events, _retry = parse(dechunk(body).encode())
    seen = [
        (json.loads(e.data)["step"]["name"], json.loads(e.data)["step"]["status"])
        for e in events
        if e.type == "message" and json.loads(e.data).get("step")
    ]
    assert [s for s in dict.fromkeys(seen) if s[1] == "completed"] == [
        (spec.name, "completed") for spec in STEPS
    ]
    ids = [int(e.last_event_id) for e in events if e.type != "end"]
    assert ids == list(range(1, len(ids) + 1)), "every id once, in order, no gap"
    assert [e.type for e in events[-2:]] == ["complete", "end"]


def read_to_end(sock: socket.socket, limit_s: float) -> bytes:
    """Everything the server sends until it ends the response (bounded in time)."""
    sock.settimeout(limit_s)
    data = bytearray()
    while not data.endswith(b"0\r\n\r\n"):
        piece = sock.recv(65536)
        if not piece:
            break
        data += piece
    return bytes(data)
