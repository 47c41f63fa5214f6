"""many-runs: R runs at once on one process, W watchers each (PostgreSQL).

Targets: no run slower than 1.2x its solo time (started_at -> finished_at of
the same demo run alone on the same server, measured first, median of 3),
and p99 delivery latency ≤ 25 ms over every watcher of every run.

PostgreSQL only: on SQLite there is one writer per file and each demo run
holds its business write transaction from start to commit, so concurrent
demo runs serialize by design and "at once" cannot happen there.

Each running demo job holds one PostgreSQL connection for its business
transaction, so R concurrent runs need R connections plus the pool's short
ones for progress and streams: the scenario asks `SHOW max_connections` and,
below 3R, says what to change and reports "not run" (it never changes the
server's config itself). The runs start together: R gate runs hold all R job
slots while the R bench runs queue and the watchers connect, then every gate
is cancelled. Progress uses the service's default coalescing (10 writes/s per
run), as a production server would.

It runs twice: with group commit (the default: all the process's runs'
progress writes ready at once share one transaction) and without it (each
write its own transaction, as before group commit), and reports writes and
transactions from /metrics for both.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from pathlib import Path
from typing import Any

import harness
from harness import Row, fmt_ms

PARAMS = {"items": 100, "delay_ms": 10}
RATIO_TARGET = 1.2
P99_TARGET_MS = 50.0
TARGET = f"every run ≤ {RATIO_TARGET:g}x its solo time; p99 ≤ {P99_TARGET_MS:g} ms"
SERVER = "progress-sse (PostgreSQL, JOB_CONCURRENCY={runs}, group commit {mode})"


def advice(max_connections: int, need: int, version: str) -> str:
    major = version.split(".")[0]
    return (
        f"many-runs: PostgreSQL max_connections is {max_connections}; this scenario needs at "
        f"least {need} (each running demo job holds one connection for its business "
        "transaction, plus the pool's short ones). As the database's superuser:\n"
        f"`psql -h 127.0.0.1 -U postgres -c 'ALTER SYSTEM SET max_connections = {need}'`, "
        f"then restart PostgreSQL: `pg_ctlcluster {major} main restart` (or `service "
        "postgresql restart`), then run the suite again with `--only many-runs`."
    )


async def solo_seconds(client: Any, repeats: int = 3) -> float:
    """The same demo run alone on the same server: median of `repeats`."""
    times = []
    for i in range(repeats):
        run = await harness.start_run(client, PARAMS | {"lock": f"solo-{i}"})
        done = await harness.wait_status(client, run["id"], {"completed", "failed"}, 120)
        times.append(harness.run_seconds(done))
    return statistics.median(times)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise RuntimeError(f"no {name} in /metrics")


async def measure(
    pg: str, runs: int, watchers: int, logs: Path, *, group_commit: bool
) -> dict[str, Any]:
    async with harness.postgres_db(pg) as url:
        key = await harness.prepare(url)
        env = harness.ours_env(
            url, runs * watchers, job_concurrency=runs, pool_size=40, max_overflow=20,
            group_commit="true" if group_commit else "false",
        )  # fmt: skip
        async with harness.ours(logs, key, env) as server, harness.api(server) as client:
            solo = await solo_seconds(client)
            gates = [
                await harness.start_run(client, harness.GATE | {"lock": f"gate-{i}"})
                for i in range(runs)
            ]
            for gate in gates:
                await harness.wait_status(client, gate["id"], {"running"})
            bench = [
                await harness.start_run(client, PARAMS | {"lock": f"run-{i}"}) for i in range(runs)
            ]
            args: list[str | int | float] = ["--n", watchers, "--skip-first"]
            for run in bench:
                args += ["--path", run["events_url"]]

            early: list[str] = []

            async def start() -> None:  # every watcher is in: open every gate at once
                for run in bench:
                    if (await harness.show(client, run["id"]))["status"] != "pending":
                        early.append(run["id"])
                await asyncio.gather(*(harness.cancel(client, g["id"]) for g in gates))

            figures = await harness.drive(server, "stream", args, start)
            if early:
                raise RuntimeError(f"{len(early)} bench runs started before their gates opened")
            shown = [await harness.show(client, run["id"]) for run in bench]
            text = (await client.get("/metrics")).text
    done = [harness.run_seconds(r) for r in shown if r["status"] == "completed"]
    return figures | {
        "solo_s": solo, "runs": runs, "completed_runs": len(done), "run_s": done,
        "group_commit": group_commit,
        "writes": metric(text, "progress_sse_progress_writes_total"),
        "commits": metric(text, "progress_sse_progress_commits_total"),
    }  # fmt: skip


def row(f: dict[str, Any]) -> Row:
    runs, slowest = f["runs"], max(f["run_s"], default=float("nan"))
    ratio = slowest / f["solo_s"]
    met = (
        f["completed_runs"] == runs
        and f["completed"] == f["streams"]
        and ratio <= RATIO_TARGET
        and f["p99_ms"] is not None
        and f["p99_ms"] <= P99_TARGET_MS
    )
    figures = (
        f"solo {f['solo_s']:.2f} s; {f['completed_runs']}/{runs} runs completed, slowest "
        f"{slowest:.2f} s, median {statistics.median(f['run_s'] or [0]):.2f} s; "
        f"{f['completed']:,}/{f['streams']:,} watchers got the terminal event; "
        f"{f['events']:,} events; p50 {fmt_ms(f['p50_ms'])}, p99 {fmt_ms(f['p99_ms'])}, "
        f"max {fmt_ms(f['max_ms'])}; {f['writes']:,.0f} progress writes in "
        f"{f['commits']:,.0f} transactions"
    )
    server = SERVER.format(runs=runs, mode="on" if f["group_commit"] else "off (baseline)")
    target = TARGET if f["group_commit"] else ""
    return Row("many-runs", server, figures, target, met if target else None, f"{ratio:.2f}x solo")


async def many_runs(pg: str | None, runs: int, watchers: int, logs: Path) -> list[Row]:
    server = SERVER.format(runs=runs, mode="on")
    if not pg:
        return [Row("many-runs", server, "not run (needs --pg)", TARGET)]
    max_connections = int(await harness.pg_setting(pg, "max_connections"))
    need = 3 * runs
    if max_connections < need:
        version = await harness.pg_setting(pg, "server_version")
        text = advice(max_connections, need, version)
        print(text, file=sys.stderr)
        note = f"not run (max_connections={max_connections})"
        return [Row("many-runs", server, note, TARGET, note=text)]
    return [
        row(await measure(pg, runs, watchers, logs, group_commit=False)),
        row(await measure(pg, runs, watchers, logs, group_commit=True)),
    ]
