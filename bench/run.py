"""The benchmark suite: progress-sse against a naive baseline, same load generator.

    .venv/bin/python bench/run.py [--pg postgresql://postgres@127.0.0.1:5432/test]
        [--only NAME ...] [--quick] [--write]

Starts the real service (`progress-sse serve`, uvicorn, one process unless a
scenario says otherwise), the baseline the suite carries (bench/naive_peer.py,
a hand-rolled progress endpoint on plain sse-starlette) and, for fan-out, the raw-socket
limit (bench/raw_limit.py); loads each with bench/load.py in a process of its
own (raw HTTP/1.1 on loopback; latency = receive time - the event's `ts`).
Prints one table (scenario | server | figures | target | met? | ratio to
baseline); `--write` puts it at the top of bench/RESULTS.md with the machine,
versions and command. Absolute figures are noisy on a shared 2-core machine:
the ratios within one run are the figures that count.

Scenarios: fanout-1k, fanout-5k, fanout-5k-procs (needs --pg: `serve --workers 1`
against `--workers 2`), idle-10k, cross-process (needs --pg),
depreciation, many-runs (needs --pg and max_connections ≥ 3 x runs),
sse-vs-polling. --quick shortens sse-vs-polling to 10 s windows and runs the
depreciation benchmark once instead of three times.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cross_process
import depreciation
import fanout
import harness
import idle
import many_runs
import polling
from harness import Row

SCENARIOS = (
    "fanout-1k",
    "fanout-5k",
    "fanout-5k-procs",
    "idle-10k",
    "cross-process",
    "depreciation",
    "many-runs",
    "sse-vs-polling",
)
NOTES = """\
Notes:
- Latency is receive time minus the event's own `ts`, measured by bench/load.py in its
  own process. progress-sse's first event on each connection is a stored snapshot of the
  run, not a live delivery, and is left out.
- fanout: progress-sse runs with PROGRESS_SSE_PROGRESS_INTERVAL_S=0 (each of the 100 ticks
  is an event, the baselines' shape) and JOB_CONCURRENCY=1; its run waits queued behind a
  gate run until every watcher is connected. The service may conflate ticks for a watcher
  that falls behind (by design), so it can deliver fewer events than the baselines.
- many-runs runs on PostgreSQL only: on SQLite each demo run holds the single writer for
  its business transaction, so runs serialize by design.
- sse-vs-polling counts the SQL statements the server process sent
  (progress_sse_db_statements_total); the live run's own progress writes are in every
  figure, each /metrics scrape adds ~2.
- fanout, "default coalescing" row: the service's defaults (ticks coalesced to at most
  one write per 0.1 s, step changes kept and written with the next write), so a step
  change can wait up to 100 ms for its write: that wait is the row's p99.
- many-runs needs PostgreSQL max_connections >= 300 (each running demo job holds one
  business connection); the suite checks it and says how to raise it.
- fanout-5k-procs: fanout-5k's watchers and run on PostgreSQL, the job on a `worker`
  process, the watchers on `serve --no-jobs --workers N`; "connections per process" is
  how many of them the kernel handed each of uvicorn's worker processes (from /proc)."""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg", default=os.environ.get("PROGRESS_SSE_TEST_DATABASE_URL"))
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, metavar="NAME")
    parser.add_argument("--quick", action="store_true", help="shorter windows, fewer repeats")
    parser.add_argument("--write", action="store_true", help="put the table in RESULTS.md")
    parser.add_argument("--polling-seconds", type=float, help="sse-vs-polling window (60)")
    parser.add_argument("--many-runs", type=int, default=100, help="runs in many-runs")
    parser.add_argument("--idle-streams", type=int, default=10_000)
    args = parser.parse_args()
    if args.polling_seconds is None:
        args.polling_seconds = 10.0 if args.quick else 60.0
    return args


def plan(args: argparse.Namespace, logs: Path) -> dict[str, Callable[[], Awaitable[list[Row]]]]:
    """Each scenario as a coroutine factory, so one failing does not stop the others."""
    repeats, sample = (1, 1000) if args.quick else (3, 2000)

    async def cross() -> list[Row]:
        if not args.pg:
            return [Row("cross-process", "progress-sse", "not run (needs --pg)")]
        return [cross_process.row(await cross_process.measure(args.pg, 1000, logs))]

    async def assets() -> list[Row]:
        figures = await depreciation.measure_all(args.pg, 100_000, sample, repeats)
        return [f.row() for f in figures]

    return {
        "fanout-1k": lambda: fanout.fanout(1000, logs),
        "fanout-5k": lambda: fanout.fanout(5000, logs),
        "fanout-5k-procs": lambda: fanout.fanout_procs(args.pg, 5000, logs, (1, 2)),
        "idle-10k": lambda: idle.idle(args.idle_streams, 12.0, logs),
        "cross-process": cross,
        "depreciation": assets,
        "many-runs": lambda: many_runs.many_runs(args.pg, args.many_runs, 10, logs),
        "sse-vs-polling": lambda: polling.sse_vs_polling(args.polling_seconds, logs),
    }


async def run_all(args: argparse.Namespace, logs: Path) -> list[Row]:
    rows: list[Row] = []
    scenarios = plan(args, logs)
    for name in args.only or SCENARIOS:
        started = time.monotonic()
        print(f"[{name}] running ...", file=sys.stderr, flush=True)
        try:
            got = await scenarios[name]()
        except Exception as error:  # one broken scenario must not hide the others' figures
            traceback.print_exc()
            got = [Row(name, "-", f"FAILED: {type(error).__name__}: {error}".strip(), met=False)]
        for row in got:
            print(f"[{name}] {row.server}: {row.figures}", file=sys.stderr, flush=True)
        print(f"[{name}] {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        rows += got
    return rows


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def met_text(row: Row) -> str:
    if row.figures.startswith("not run"):
        return "not run"
    return {True: "yes", False: "**no**", None: ""}[row.met]


def table(rows: list[Row]) -> str:
    lines = [
        "| scenario | server | figures | target | met? | ratio to baseline |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = (r.scenario, r.server, r.figures, r.target, met_text(r), r.ratio)
        lines.append("| " + " | ".join(cell(c) for c in cells) + " |")
    notes = [r.note.replace("\n", "\n  ") for r in rows if r.note]
    return "\n".join(lines) + "\n\n" + "\n".join([NOTES, *(f"- {n}" for n in notes)]) + "\n"


def heading(args: argparse.Namespace, load_before: str) -> str:
    """Date, machine, versions and the exact command: a figure without them means little."""
    names = ("uvicorn", "starlette", "sse-starlette", "SQLAlchemy")
    packages = ", ".join(f"{name} {version(name)}" for name in names)
    command = shlex.join([".venv/bin/python", "bench/run.py", *sys.argv[1:]])
    with open("/proc/loadavg") as avg:
        load_after = " ".join(avg.read().split()[:3])
    return (
        f"## Suite run, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"- machine: {platform.node()}, {os.cpu_count()} cores, {platform.platform()}\n"
        f"- Python {platform.python_version()}; {packages}\n"
        f"- command: `{command}`\n"
        f"- load average before / after the run: {load_before} / {load_after} "
        "(other work on the machine skews absolute figures; compare ratios)\n\n"
    )


def write(section: str) -> None:
    """New section at the top, every earlier section kept below it."""
    text = harness.RESULTS.read_text() if harness.RESULTS.exists() else harness.RESULTS_HEADER
    at = text.find("\n## ")
    head, rest = (text, "") if at < 0 else (text[: at + 1], text[at + 1 :])
    harness.RESULTS.write_text(head.rstrip("\n") + "\n\n" + section + ("\n" + rest if rest else ""))


def main() -> None:
    args = parse_args()
    harness.raise_nofile()
    with open("/proc/loadavg") as avg:
        load_before = " ".join(avg.read().split()[:3])
    logs = Path(tempfile.mkdtemp(prefix="pss-bench-logs-"))  # kept: servers' logs, to read
    rows = asyncio.run(run_all(args, logs))
    section = heading(args, load_before) + table(rows)
    print()
    print(section)
    if args.write:
        write(section)
        print(f"written to {harness.RESULTS}", file=sys.stderr)
    print(f"server logs: {logs}", file=sys.stderr)


if __name__ == "__main__":
    main()
