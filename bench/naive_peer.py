"""Naive baseline: a hand-rolled progress endpoint on plain sse-starlette.

Copied from the shared yardstick (`shared/bench/naive_peer.py`, by the
benchmark's authors) so the suite carries its own baseline; only the layout
changed (ruff), not the behaviour. A job coroutine pushes progress into
per-subscriber asyncio queues held in a module-level dict; `/stream/{run}`
streams them. No database, no persistence: it exists only as the reference
a durable design must beat. Run it as `uvicorn naive_peer:app --port 8100`,
start with `POST /start/{run}?steps=100&interval=0.01`, watch `/stream/{run}`.
"""

import asyncio
import json
import time

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

SUBS: dict[str, set[asyncio.Queue]] = {}


async def job(run: str, steps: int, interval: float):
    for i in range(1, steps + 1):
        await asyncio.sleep(interval)
        ev = {
            "percentage": round(100 * i / steps, 2),
            "message": f"item {i}/{steps}",
            "ts": time.time(),
        }
        for q in list(SUBS.get(run, ())):
            q.put_nowait(("progress", ev))
    for q in list(SUBS.get(run, ())):
        q.put_nowait(("complete", {"success": True, "ts": time.time()}))


async def start(request):
    run = request.path_params["run"]
    steps = int(request.query_params.get("steps", 100))
    interval = float(request.query_params.get("interval", 0.01))
    asyncio.get_running_loop().create_task(job(run, steps, interval))
    return JSONResponse({"run": run})


async def stream(request):
    run = request.path_params["run"]
    q: asyncio.Queue = asyncio.Queue()
    SUBS.setdefault(run, set()).add(q)

    async def gen():
        try:
            while True:
                kind, ev = await q.get()
                yield {"event": kind, "data": json.dumps(ev)}
                if kind == "complete":
                    return
        finally:
            SUBS[run].discard(q)

    return EventSourceResponse(gen(), ping=15)


async def count(request):
    return JSONResponse({k: len(v) for k, v in SUBS.items()})


app = Starlette(
    routes=[
        Route("/start/{run}", start, methods=["POST"]),
        Route("/stream/{run}", stream),
        Route("/count", count),
    ]
)
