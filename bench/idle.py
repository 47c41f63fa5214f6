"""idle-10k: N idle streams held open on one process; RSS per stream, pings still on time.

The streams watch a run that emits nothing while they are held: ours watch a
run queued behind a gate run (JOB_CONCURRENCY=1), so after the snapshot only
`: ping` comments arrive; the baseline's watch a run nobody starts. Ours
pings every PING_INTERVAL_S (5 s here, 15 s by default) and each stream's
longest silence (from its answer, between pings, to the end of the hold) must
stay under 1.5x that. naive_peer pings every 15 s, longer than the hold: for
it only the RSS is reported. RSS growth = the server's VmRSS after the hold
minus before the first connect, over N.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import harness
from harness import Row

PING_INTERVAL_S = 5.0
KB_TARGET = 10.0
SLACK = 1.5


async def naive_idle(n: int, hold: float, logs: Path) -> dict[str, Any]:
    async with harness.naive(logs) as server:
        args: list[str | int | float] = ["--path", "/stream/idle", "--n", n, "--hold", hold]
        args += ["--rss-pid", server.pid]
        return await harness.hold_open(server, "idle", args, 600 + hold)


async def ours_idle(n: int, hold: float, logs: Path) -> dict[str, Any]:
    async with harness.ours_gated(logs, n, ping_interval_s=PING_INTERVAL_S) as (
        server,
        client,
        _gate,
    ):
        queued = await harness.start_run(client, {"items": 1, "lock": "idle"})
        args: list[str | int | float] = ["--path", queued["events_url"], "--n", n]
        args += ["--hold", hold]
        args += ["--rss-pid", server.pid, "--ping-interval", PING_INTERVAL_S]
        args += ["--ping-slack", SLACK]
        return await harness.hold_open(server, "idle", args, 600 + hold)


def describe(f: dict[str, Any]) -> str:
    text = (
        f"{f['open_at_end']:,}/{f['streams']:,} open after the hold; "
        f"RSS +{f['kb_per_stream']:.1f} KB/stream "
        f"({f['rss0_kb'] / 1024:.0f} -> {f['rss1_kb'] / 1024:.0f} MB)"
    )
    if f.get("pinged_on_time") is not None:
        text += (
            f"; pings on time on {f['pinged_on_time']:,} streams, "
            f"worst gap {f['worst_gap_s']:.1f} s"
        )
    return text


async def idle(n: int, hold: float, logs: Path) -> list[Row]:
    name = f"idle-{n // 1000}k" if n % 1000 == 0 else f"idle-{n}"
    base = await naive_idle(n, hold, logs)
    mine = await ours_idle(n, hold, logs)
    met = (
        mine["open_at_end"] == n
        and mine["kb_per_stream"] <= KB_TARGET
        and mine["pinged_on_time"] == n
    )
    less = base["kb_per_stream"] / mine["kb_per_stream"] if mine["kb_per_stream"] > 0 else None
    target = (
        f"≤ {KB_TARGET:g} KB/stream; every stream pinged every {PING_INTERVAL_S:g} s "
        f"(no gap > {PING_INTERVAL_S * SLACK:g} s)"
    )
    return [
        Row(name, "naive_peer (baseline)", describe(base), ratio="1.0x"),
        Row(
            name,
            "progress-sse",
            describe(mine),
            target,
            met,
            "-" if less is None else f"{less:.1f}x less RSS/stream",
        ),
    ]
