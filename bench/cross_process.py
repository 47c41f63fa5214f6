"""Benchmark: watchers on one process, the job on another (PostgreSQL LISTEN/NOTIFY).

    .venv/bin/python bench/cross_process.py --watchers 1000 \
        --pg postgresql://postgres@127.0.0.1:5432/test [--write]

Creates a fresh PostgreSQL database, starts `progress-sse serve --no-jobs`
(process B, the watchers' server), queues a `demo` run, opens N raw SSE
connections to B, then starts `progress-sse worker` (process A), which runs
the job. Latency = receive time - the event's `ts`, for every event after
each connection's first (that first one is the stored snapshot). Prints
p50/p99/max; `--write` appends to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from depreciation import RESULTS_HEADER, postgres_db

from progress_sse import admin, db
from progress_sse.auth import Role, create_key
from progress_sse.settings import Settings

CLI = str(Path(sys.executable).parent / "progress-sse")
TS = re.compile(rb'"ts":"([0-9T:.\-]+)Z"')
TERMINAL = re.compile(rb"event: (complete|error|cancelled)")


class Watcher(asyncio.Protocol):
    def __init__(self, request: bytes, latencies: list[float], done: asyncio.Future[bool]) -> None:
        self.request, self.latencies, self.done = request, latencies, done
        self.tail, self.first = b"", True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.tail + data
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            self.tail = buffer
            return
        complete, self.tail = buffer[: cut + 2], buffer[cut + 2 :]
        for match in TS.finditer(complete):
            if self.first:
                self.first = False  # the snapshot: stored earlier, not a delivery
                continue
            sent = datetime.fromisoformat(match.group(1).decode() + "+00:00").timestamp()
            self.latencies.append((now - sent) * 1000)
        if TERMINAL.search(complete) and not self.done.done():
            self.done.set_result(True)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(False)


@contextlib.asynccontextmanager
async def process(*args: str, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        CLI, *args, env=os.environ | env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        yield proc
    finally:
        proc.terminate()
        await proc.wait()


async def run(args: argparse.Namespace) -> dict[str, float]:
    async with postgres_db(args.pg) as url:
        settings = Settings(database_url=url)
        await admin.migrate_all(settings)
        engine = db.create_engine(url, settings)
        key = await create_key(db.sessionmaker(engine), "bench", Role.ADMIN)
        await engine.dispose()
        env = {
            "PROGRESS_SSE_DATABASE_URL": url,
            "PROGRESS_SSE_LOG_LEVEL": "warning",
            # One key opens every watcher here: lift the per-key caps past the load.
            "PROGRESS_SSE_MAX_STREAMS_PER_KEY": str(args.watchers + 10),
            "PROGRESS_SSE_MAX_STREAMS_PER_TENANT": str(args.watchers + 10),
            "PROGRESS_SSE_RATE_LIMIT_REQUESTS": "",
        }
        async with process("serve", "--no-jobs", "--port", str(args.port), env=env):
            base = f"http://127.0.0.1:{args.port}"
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=base, headers=headers) as client:
                for _ in range(100):
                    with contextlib.suppress(httpx.HTTPError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    await asyncio.sleep(0.1)
                params = {"items": args.events, "delay_ms": args.interval_ms}
                started = await client.post("/api/runs", json={"kind": "demo", "params": params})
                stream = started.json()["events_url"]
            return await watch(args, stream, key, env)


async def watch(
    args: argparse.Namespace, stream: str, key: str, env: dict[str, str]
) -> dict[str, float]:
    request = (
        f"GET {stream} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        f"Authorization: Bearer {key}\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    done = [loop.create_future() for _ in range(args.watchers)]
    for i, future in enumerate(done):
        await loop.create_connection(
            lambda f=future: Watcher(request, latencies, f), "127.0.0.1", args.port
        )
        if i % 200 == 199:
            await asyncio.sleep(0.02)
    await asyncio.sleep(1.0)
    async with process("worker", env=env):  # process A runs the job
        finished = await asyncio.wait_for(asyncio.gather(*done), args.timeout)
    latencies.sort()
    return {
        "watchers": args.watchers,
        "completed": sum(finished),
        "events": len(latencies),
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
        "max_ms": latencies[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pg", default=os.environ.get("PROGRESS_SSE_TEST_DATABASE_URL"), required=False
    )
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="demo items")
    parser.add_argument("--interval-ms", type=int, default=10, help="pause per item")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not args.pg:
        parser.error("--pg (or PROGRESS_SSE_TEST_DATABASE_URL) is needed")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    figures = asyncio.run(run(args))
    print(json.dumps(figures))
    if args.write:
        results = Path(__file__).with_name("RESULTS.md")
        if not results.exists():
            results.write_text(RESULTS_HEADER)
        with results.open("a") as out:
            out.write(
                f"\n## Cross-process delivery, {date.today().isoformat()}\n\n"
                f"`{' '.join(['.venv/bin/python', *sys.argv])}` on {platform.node()} "
                f"({os.cpu_count()} cores, Python {platform.python_version()}); job on a "
                "`worker` process, watchers on a `serve --no-jobs` process, one PostgreSQL.\n\n"
                "| watchers | completed | events received | p50 | p99 | max |\n"
                "|---|---|---|---|---|---|\n"
                f"| {figures['watchers']:,} | {figures['completed']:,} | {figures['events']:,} "
                f"| {figures['p50_ms']:.1f} ms | {figures['p99_ms']:.1f} ms "
                f"| {figures['max_ms']:.1f} ms |\n"
            )


if __name__ == "__main__":
    main()
