"""Benchmark: does a worker's memory level off over many short runs?

    .venv/bin/python bench/worker_memory.py --runs 10000 \
        --pg postgresql://postgres@127.0.0.1:5432/test --write

One `progress-sse worker` process on a fresh PostgreSQL database runs
`--runs` short demo runs (one item, no delay), queued in batches so the
queue never grows large. The worker's RSS (from /proc) is sampled after each
batch; the table shows it against the runs done, and the growth per run in
the first and in the last half. Memory that levels off shows a last half
near zero; a leak shows the same slope in both halves.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from harness import CLI, RESULTS, postgres_db, prepare

from progress_sse.runs.models import Run
from progress_sse.runs.store import NewRun, RunStore
from progress_sse.settings import Settings
from progress_sse.storage import db

BATCH = 250
DEMO = {"items": 1, "delay_ms": 0, "fail_at": None, "hold_ms": 0, "lock": "m"}


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def queue_and_wait(store: RunStore, count: int) -> None:
    for i in range(count):
        params = dict(DEMO, lock=f"m{i}")
        await store.create_run(NewRun(
            tenant_id="bench", kind="demo", params=params, lock_key=None,
            idempotency_key=None, created_by="bench",
        ))  # fmt: skip
    for _ in range(6000):  # bounded: 10 minutes a batch
        async with store.sessions() as session:
            left = await session.scalar(
                sa.select(sa.func.count()).where(Run.status.in_(["pending", "running"]))
            )
        if not left:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError("the batch did not finish in time")


async def measure(pg: str, runs: int) -> list[tuple[int, int, float]]:
    """(runs done, worker RSS in KB, seconds) after each batch."""
    async with postgres_db(pg) as url:
        await prepare(url)
        settings = Settings(database_url=url)
        engine = db.create_engine(url, settings)
        store = RunStore(db.sessionmaker(engine))
        env = {
            "PROGRESS_SSE_DATABASE_URL": url,
            "PROGRESS_SSE_LOG_LEVEL": "warning",
            "PROGRESS_SSE_POLL_INTERVAL_S": "0.05",
            "PROGRESS_SSE_WEBHOOK_DELIVERY": "false",
        }
        samples: list[tuple[int, int, float]] = []
        try:
            async with worker(env) as pid:
                start = time.monotonic()
                await queue_and_wait(store, 50)  # warm up: imports, pools, caches
                samples.append((0, rss_kb(pid), 0.0))
                done = 0
                while done < runs:
                    await queue_and_wait(store, BATCH)
                    done += BATCH
                    samples.append((done, rss_kb(pid), time.monotonic() - start))
        finally:
            await engine.dispose()
    return samples


@contextlib.asynccontextmanager
async def worker(env: dict[str, str]) -> AsyncIterator[int]:
    """A `progress-sse worker` process (eight concurrent runs); yields its pid."""
    proc = await asyncio.create_subprocess_exec(
        CLI, "worker", "--concurrency", "8", env=os.environ | env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await asyncio.sleep(2)  # started: it claims what the warm-up queues
        yield proc.pid
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


def table(samples: list[tuple[int, int, float]]) -> str:
    rows = ["| runs done | worker RSS | seconds |", "|---|---|---|"]
    step = max(1, len(samples) // 10)
    for done, kb, seconds in samples[::step] + ([samples[-1]] if len(samples) % step != 1 else []):
        rows.append(f"| {done:,} | {kb / 1024:.1f} MB | {seconds:.0f} |")
    half = len(samples) // 2
    first = (samples[half][1] - samples[0][1]) / max(1, samples[half][0] - samples[0][0])
    last = (samples[-1][1] - samples[half][1]) / max(1, samples[-1][0] - samples[half][0])
    rows.append("")
    rows.append(
        f"Growth per run: {first * 1024:,.0f} B in the first half, "
        f"{last * 1024:,.0f} B in the last half."
    )
    return "\n".join(rows)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--pg", required=True)
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    samples = await measure(args.pg, args.runs)
    text = table(samples)
    print(text)
    if args.write:
        command = " ".join(["bench/worker_memory.py", *sys.argv[1:]])
        with RESULTS.open("a") as out:
            out.write(
                f"\n## Worker memory over {args.runs:,} runs, {date.today().isoformat()}\n\n"
                f"`.venv/bin/python {command}` on {platform.node()} "
                f"(Python {platform.python_version()})\n\n{text}\n"
            )


if __name__ == "__main__":
    asyncio.run(main())
