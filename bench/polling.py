"""sse-vs-polling: what watching costs the database, SSE against polling a status endpoint.

One `serve` process (SQLite, the service's default settings but for the caps
and request limits) and, for each mode, a long demo run (delay_ms 10) that is
live through the whole window:
  (a) SSE, 1,000 watchers;
  (c) SSE, 100 watchers: the statement rate must not grow with watchers;
  (b) polling: 1,000 clients, each `GET /api/runs/{id}` every 500 ms over a
      keep-alive raw HTTP/1.1 connection, the baseline.
The figure is SQL statements/s the process sent to its database
(`progress_sse_db_statements_total` scraped just before and after the
window; each scrape itself adds ~2). The run's own progress writes are in
every figure; what differs is what the watchers add.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import harness
from harness import Row, fmt_ms

INTERVAL_S = 0.5
GROWTH_LIMIT = 1.25  # SSE at 1,000 watchers within 25% of SSE at 100


async def window(
    server: harness.Server, client: Any, mode: str, n: int, duration: float
) -> dict[str, Any]:
    """One measured window on a fresh live run; the run is cancelled afterwards."""
    items = int((duration + 60) * 100)  # ~100 items/s at delay_ms 10: outlives the window
    params = {"items": items, "delay_ms": 10, "lock": f"live-{mode}-{n}"}
    run = await harness.start_run(client, params)
    await harness.wait_status(client, run["id"], {"running"})
    if mode == "stream":
        args: list[str | int | float] = ["--path", run["events_url"], "--skip-first"]
    else:
        args = ["--path", f"/api/runs/{run['id']}", "--interval", INTERVAL_S]
    args += ["--n", n, "--duration", duration]
    before: dict[str, float] = {}

    async def start() -> None:
        before["statements"], before["t"] = await harness.statements(client), time.monotonic()

    figures = await harness.drive(server, mode, args, start, duration + 300)
    after, t_after = await harness.statements(client), time.monotonic()
    status = (await harness.show(client, run["id"]))["status"]
    await harness.cancel(client, run["id"])
    await harness.wait_status(client, run["id"], {"cancelled", "completed", "failed"})
    window_s = t_after - before["t"]
    rate = (after - before["statements"]) / window_s
    return figures | {"statements_per_s": rate, "window_s": window_s, "live": status == "running"}


async def measure(duration: float, logs: Path) -> dict[str, dict[str, Any]]:
    async with harness.sqlite_db() as url:
        key = await harness.prepare(url)
        env = harness.ours_env(url, 1000)
        async with harness.ours(logs, key, env) as server, harness.api(server) as client:
            return {
                "sse-1000": await window(server, client, "stream", 1000, duration),
                "sse-100": await window(server, client, "stream", 100, duration),
                "poll-1000": await window(server, client, "poll", 1000, duration),
            }


def sse_figures(f: dict[str, Any]) -> str:
    live = "" if f["live"] else " (the run was NOT live through the window)"
    return (
        f"{f['statements_per_s']:.1f} statements/s over {f['window_s']:.0f} s{live}; "
        f"{f['events']:,} events delivered, p99 {fmt_ms(f['p99_ms'])}"
    )


def poll_figures(f: dict[str, Any]) -> str:
    errors = sum(v for k, v in f["statuses"].items() if k != "200")
    return (
        f"{f['statements_per_s']:.1f} statements/s over {f['window_s']:.0f} s; "
        f"{f['requests_per_s']:,.0f} answers/s of {f['offered_per_s']:,.0f} offered, "
        f"{errors:,} errors/reconnects; RTT p50 {fmt_ms(f['p50_ms'])}, "
        f"p99 {fmt_ms(f['p99_ms'])}"
    )


def rows(results: dict[str, dict[str, Any]]) -> list[Row]:
    big, small, poll = results["sse-1000"], results["sse-100"], results["poll-1000"]
    polling = poll["statements_per_s"]

    def fewer(f: dict[str, Any]) -> str:
        rate = f["statements_per_s"]
        return f"{polling / rate:,.0f}x fewer statements/s" if rate > 0 else "-"

    flat = big["statements_per_s"] <= small["statements_per_s"] * GROWTH_LIMIT + 1
    target = "statements/s do not grow with watchers (1,000 within 25% of 100)"
    name = "sse-vs-polling"
    return [
        Row(name, "polling 1,000 clients / 500 ms (baseline)", poll_figures(poll), ratio="1.0x"),
        Row(name, "progress-sse SSE, 1,000 watchers", sse_figures(big), target, flat, fewer(big)),
        Row(name, "progress-sse SSE, 100 watchers", sse_figures(small), ratio=fewer(small)),
    ]


async def sse_vs_polling(duration: float, logs: Path) -> list[Row]:
    return rows(await measure(duration, logs))
