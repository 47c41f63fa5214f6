"""Benchmark: watchers on one process, the job on another (PostgreSQL LISTEN/NOTIFY).

    .venv/bin/python bench/cross_process.py --watchers 1000 \\
        --pg postgresql://postgres@127.0.0.1:5432/test [--write]

Creates a fresh PostgreSQL database, starts `progress-sse serve --no-jobs`
(process B, the watchers' server), queues a `demo` run, opens N raw SSE
connections to B with bench/load.py (a process of its own), then starts
`progress-sse worker` (process A), which runs the job. Latency = receive time
- the event's `ts`, for every event after each connection's first (that first
one is the stored snapshot). By default every one of the 100 ticks is its own
event (PROGRESS_SSE_PROGRESS_INTERVAL_S=0 on A), the fan-out scenarios' shape;
`--progress-interval-s 0.1` gives the service's default coalescing. Prints
the figures as JSON; `--write` appends a section to bench/RESULTS.md. The
suite (bench/run.py) runs the same measurement as its `cross-process` scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import harness
from harness import Row, fmt_ms

P99_TARGET_MS = 25.0


async def measure(
    pg: str,
    watchers: int,
    logs: Path,
    *,
    events: int = 100,
    interval_ms: int = 10,
    progress_interval_s: float = 0.0,
    serve_args: Sequence[str] = (),
) -> dict[str, Any]:
    """Watchers on B (`serve --no-jobs`, plus `serve_args`), the run on A (`worker`), one
    PostgreSQL. `per_process` counts the connections each of B's processes was handed."""
    async with harness.postgres_db(pg) as url:
        key = await harness.prepare(url)
        env = harness.ours_env(url, watchers, progress_interval_s=progress_interval_s)
        serve_b = harness.ours(logs, key, env, "--no-jobs", *serve_args, name="serve-no-jobs")
        async with serve_b as server, harness.api(server) as client:
            params = {"items": events, "delay_ms": interval_ms, "lock": "bench"}
            run = await harness.start_run(client, params)
            per_process: dict[int, int] = {}
            async with contextlib.AsyncExitStack() as stack:

                async def start() -> None:  # every watcher is in: process A runs the job
                    per_process.update(server.connections())
                    await stack.enter_async_context(harness.worker(logs, env))

                args = ["--path", run["events_url"], "--n", watchers, "--skip-first"]
                figures = await harness.drive(server, "stream", args, start)
            figures["run_status"] = (await harness.show(client, run["id"]))["status"]
            figures["per_process"] = sorted(per_process.values(), reverse=True)
            return figures


def row(f: dict[str, Any]) -> Row:
    n = f["streams"]
    met = f["completed"] == n and f["p99_ms"] is not None and f["p99_ms"] <= P99_TARGET_MS
    figures = (
        f"{f['completed']:,}/{n:,} got the terminal event; {f['events']:,} events; "
        f"p50 {fmt_ms(f['p50_ms'])}, p99 {fmt_ms(f['p99_ms'])}, max {fmt_ms(f['max_ms'])}; "
        f"terminal max {fmt_ms(f['terminal_max_ms'])}"
    )
    return Row(
        "cross-process",
        "progress-sse: worker A -> serve --no-jobs B (PostgreSQL)",
        figures,
        f"p99 ≤ {P99_TARGET_MS:g} ms",
        met,
        "- (no baseline can do this)",
    )


def write(figures: dict[str, Any]) -> None:
    if not harness.RESULTS.exists():
        harness.RESULTS.write_text(harness.RESULTS_HEADER)
    with harness.RESULTS.open("a") as out:
        out.write(
            f"\n## Cross-process delivery, {date.today().isoformat()}\n\n"
            f"`{' '.join(['.venv/bin/python', *sys.argv])}` on {platform.node()} "
            f"({os.cpu_count()} cores, Python {platform.python_version()}); job on a "
            "`worker` process, watchers on a `serve --no-jobs` process, one PostgreSQL.\n\n"
            "| watchers | completed | events received | p50 | p99 | max |\n"
            "|---|---|---|---|---|---|\n"
            f"| {figures['streams']:,} | {figures['completed']:,} | {figures['events']:,} "
            f"| {fmt_ms(figures['p50_ms'])} | {fmt_ms(figures['p99_ms'])} "
            f"| {fmt_ms(figures['max_ms'])} |\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg", default=os.environ.get("PROGRESS_SSE_TEST_DATABASE_URL"))
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100, help="demo items")
    parser.add_argument("--interval-ms", type=int, default=10, help="pause per item")
    parser.add_argument("--progress-interval-s", type=float, default=0.0)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if not args.pg:
        parser.error("--pg (or PROGRESS_SSE_TEST_DATABASE_URL) is needed")
    harness.raise_nofile()
    with tempfile.TemporaryDirectory(prefix="pss-bench-logs-") as logs:
        figures = asyncio.run(
            measure(
                args.pg,
                args.watchers,
                Path(logs),
                events=args.events,
                interval_ms=args.interval_ms,
                progress_interval_s=args.progress_interval_s,
            )
        )
    print(json.dumps(figures))
    if args.write:
        write(figures)


if __name__ == "__main__":
    main()
