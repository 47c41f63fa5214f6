"""fanout-1k / fanout-5k: N watchers of one run, 100 progress events at 100/s.

Three servers, one load generator: the naive baseline, the raw-socket
limit reference, and progress-sse (`serve`, one process, SQLite). Ours must
not start its run before every watcher is connected, so the run waits queued
behind a "gate" run that holds the only job slot (PROGRESS_SSE_JOB_CONCURRENCY=1)
until the load is in; cancelling the gate lets the runner take the bench run.
How soon it does is no part of the latency, which is each event's own
receive time minus its `ts`. PROGRESS_SSE_PROGRESS_INTERVAL_S=0 makes each of
the 100 ticks its own event, the baselines' shape; a fourth row runs the
service's default (ticks coalesced to 10 writes/s, step changes kept).

fanout-5k-procs (PostgreSQL): the same watchers and run, the job on a
`progress-sse worker`, the watchers on `serve --no-jobs --workers 1` and then
`--workers 2` (the kernel hands each accepted connection to one of uvicorn's
worker processes; each row says how many each got), against the naive
baseline and the raw limit measured in the same run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cross_process
import harness
from harness import Row, fmt_ms

STEPS = 100
INTERVAL_S = 0.01
# Targets are ratios to the raw-socket limit measured in the same run (issue 20):
# these shared two-core machines move absolute times from run to run.
P99_TO_LIMIT = 1.5  # p99 within 1.5x the raw limit's p99
TERMINAL_TO_LIMIT = 2.0  # 5,000 watchers: every terminal event within 2x the raw limit's
RATIO_TARGET = 5.0  # 1,000 watchers: p99 at least 5x better than the naive peer's


async def naive_fanout(n: int, logs: Path) -> dict[str, Any]:
    async with harness.naive(logs) as server, harness.api(server) as client:

        async def start() -> None:
            await client.post(f"/start/bench?steps={STEPS}&interval={INTERVAL_S}")

        return await harness.drive(server, "stream", ["--path", "/stream/bench", "--n", n], start)


async def raw_fanout(n: int, logs: Path) -> dict[str, Any]:
    async with harness.raw(logs) as server, harness.api(server) as client:

        async def start() -> None:
            await client.post(f"/start?steps={STEPS}&interval={INTERVAL_S}")

        return await harness.drive(server, "stream", ["--path", "/s", "--n", n], start)


async def ours_fanout(n: int, logs: Path, interval_s: float = 0) -> dict[str, Any]:
    async with harness.ours_gated(logs, n, progress_interval_s=interval_s) as (
        server,
        client,
        gate,
    ):
        params = {"items": STEPS, "delay_ms": int(INTERVAL_S * 1000), "lock": "bench"}
        run = await harness.start_run(client, params)

        queued: list[str] = []

        async def start() -> None:  # every watcher is in: let the run go
            queued.append((await harness.show(client, run["id"]))["status"])
            await harness.cancel(client, gate["id"])

        args = ["--path", run["events_url"], "--n", n, "--skip-first"]
        figures = await harness.drive(server, "stream", args, start)
        if queued != ["pending"]:  # the gate leaked: the watchers missed the start
            raise RuntimeError(f"the bench run was {queued} before the gate opened")
        return figures


def describe(f: dict[str, Any]) -> str:
    return (
        f"{f['completed']:,}/{f['streams']:,} got the terminal event; {f['events']:,} events "
        f"({f['events_per_s'] or 0:,}/s); p50 {fmt_ms(f['p50_ms'])}, p99 {fmt_ms(f['p99_ms'])}, "
        f"max {fmt_ms(f['max_ms'])}; terminal max {fmt_ms(f['terminal_max_ms'])}"
    )


def ratio(baseline: dict[str, Any], other: dict[str, Any]) -> float | None:
    if not baseline["p99_ms"] or not other["p99_ms"]:
        return None
    return float(baseline["p99_ms"]) / float(other["p99_ms"])


def ours_row(
    name: str, n: int, f: dict[str, Any], base: dict[str, Any], limit: dict[str, Any],
    server: str = "progress-sse",
) -> Row:  # fmt: skip
    """Ours against the targets, each a ratio to a reference measured in the same run."""
    better = ratio(base, f)
    to_limit = _over(f["p99_ms"], limit["p99_ms"])
    target = f"p99 ≤ {P99_TO_LIMIT:g}x the raw limit's"
    met = f["completed"] == n and to_limit is not None and to_limit <= P99_TO_LIMIT
    if n >= 5000:
        target += f"; every terminal event ≤ {TERMINAL_TO_LIMIT:g}x the raw limit's"
        terminal = _over(f["terminal_max_ms"], limit["terminal_max_ms"])
        met = met and f["terminal_n"] == n and terminal is not None
        met = met and terminal is not None and terminal <= TERMINAL_TO_LIMIT
    else:
        target += f"; p99 ≥ {RATIO_TARGET:g}x better than naive"
        met = met and better is not None and better >= RATIO_TARGET
    ratio_text = "-" if better is None else f"{better:.1f}x better p99 than naive"
    if to_limit is not None:
        ratio_text += f"; {to_limit:.1f}x the raw limit's p99"
    return Row(name, server, describe(f), target, met, ratio_text)


def _over(mine: float | None, reference: float | None) -> float | None:
    return None if not mine or not reference else float(mine) / float(reference)


async def fanout(n: int, logs: Path) -> list[Row]:
    """All three servers at N watchers; ratios are against naive_peer in this same run."""
    name = f"fanout-{n // 1000}k" if n % 1000 == 0 else f"fanout-{n}"
    base = await naive_fanout(n, logs)
    limit = await raw_fanout(n, logs)
    mine = await ours_fanout(n, logs)
    # The service's default: ticks coalesced to 10 writes/s, step changes never.
    default = await ours_fanout(n, logs, interval_s=0.1)
    limit_ratio = ratio(base, limit)
    return [
        Row(name, "naive_peer (baseline)", describe(base), ratio="1.0x"),
        Row(
            name,
            "raw_limit (reference)",
            describe(limit),
            ratio="-" if limit_ratio is None else f"{limit_ratio:.1f}x better p99",
        ),
        ours_row(name, n, mine, base, limit),
        ours_row(name, n, default, base, limit, "progress-sse, default coalescing (0.1 s)"),
    ]


async def fanout_procs(pg: str | None, n: int, logs: Path, workers: tuple[int, ...]) -> list[Row]:
    """N watchers spread over `serve --workers W` processes, for each W; same run shape."""
    name = f"fanout-{n // 1000}k-procs"
    if not pg:
        return [Row(name, "progress-sse", "not run (needs --pg)")]
    base = await naive_fanout(n, logs)
    limit = await raw_fanout(n, logs)
    limit_ratio = ratio(base, limit)
    rows = [
        Row(name, "naive_peer (baseline)", describe(base), ratio="1.0x"),
        Row(
            name,
            "raw_limit (reference)",
            describe(limit),
            ratio="-" if limit_ratio is None else f"{limit_ratio:.1f}x better p99",
        ),
    ]
    one: dict[str, Any] | None = None
    for count in workers:
        serve_args = ["--workers", str(count)]
        f = await cross_process.measure(pg, n, logs, serve_args=serve_args)
        row = ours_row(
            name, n, f, base, limit,
            f"progress-sse: worker -> serve --no-jobs --workers {count} (PG)",
        )  # fmt: skip
        spread = " / ".join(f"{c:,}" for c in f["per_process"])
        versus = "" if limit_ratio is None else f" (raw limit {limit_ratio:.1f}x)"
        if one is not None and (gain := ratio(one, f)) is not None:
            versus += f"; {gain:.1f}x better p99 than 1 process"
        one = one or f
        figures = f"{row.figures}; connections per process: {spread}"
        rows.append(Row(name, row.server, figures, row.target, row.met, row.ratio + versus))
    return rows
