"""Load generator: N raw HTTP/1.1 connections on loopback, in a process of its own.

Derived from the yardstick's `shared/bench/sse_load.py` (asyncio Protocols on
uvloop, latency = receive time - the `ts` in each event's JSON data, epoch
seconds or ISO 8601). It runs apart from the servers so that its own work is
not charged to them. Modes:

  stream  watchers of one or more event streams; latency, terminal latency
  poll    keep-alive `GET PATH` every --interval s (polling a status endpoint)
  idle    idle streams held --hold s; pings per stream and the server's RSS growth

    python bench/load.py stream --port 8000 --path /api/runs/ID/events --n 1000 \\
        --header 'Authorization: Bearer KEY' --skip-first --start-post /api/runs/GATE/cancel

stream and poll open every connection first (500 at a time, each batch
answered before the next, so the accept backlog is never overrun), print
`{"ready": ...}` on stdout, then wait for a line on stdin (the driver starts
the run then) unless --start-post is given. Every mode ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import resource
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any

try:
    import uvloop as _uvloop
except ImportError:  # the figures are worse without it, but still comparable
    _uvloop = None  # type: ignore[assignment]

TS = re.compile(rb'"ts"\s*:\s*("?)([0-9T:.+\-Z]+)\1')
TERMINAL = re.compile(rb"event:\s*(complete|error|cancelled)\r?\n")
COMMENT = re.compile(rb"(?:^|\n):")
BATCH = 500


@dataclass
class Tally:
    """What every connection of one load process adds to."""

    latencies: list[float] = field(default_factory=list)
    by_event: dict[bytes, list[float]] = field(default_factory=dict)  # keyed by the event's ts
    terminal: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    _ts_cache: dict[bytes, float] = field(default_factory=dict)

    def ts(self, raw: bytes) -> float:
        """One event's ts as epoch seconds; every watcher gets the same bytes, so cache them."""
        value = self._ts_cache.get(raw)
        if value is None:
            text = raw.decode()
            try:
                value = float(text)
            except ValueError:
                value = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            if len(self._ts_cache) > 100_000:
                self._ts_cache.clear()
            self._ts_cache[raw] = value
        return value


class Stream(asyncio.Protocol):
    """One SSE connection: parses whole frames only, skips the first event if asked."""

    def __init__(self, request: bytes, tally: Tally, skip_first: bool) -> None:
        loop = asyncio.get_running_loop()
        self.request, self.tally, self.skip = request, tally, skip_first
        self.ready: asyncio.Future[bool] = loop.create_future()  # answered (and snapshot in)
        self.done: asyncio.Future[bool] = loop.create_future()  # terminal event, or closed
        self.tail, self.headers = b"", False
        self.opened_at = 0.0
        self.pings: list[float] = []

    def itself(self) -> Stream:
        """The protocol factory for this one connection."""
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buffer = self.tail + data
        a, b = buffer.rfind(b"\n\n"), buffer.rfind(b"\r\n\r\n")
        cut = max(a + 2 if a >= 0 else -1, b + 4 if b >= 0 else -1)
        if cut < 0:
            self.tail = buffer
            return
        whole, self.tail = buffer[:cut], buffer[cut:]
        if not self.headers and not self._answered(whole, now):
            return
        if COMMENT.search(whole):
            self.pings.extend(now for _ in COMMENT.finditer(whole))
        self._events(whole, now)

    def _answered(self, whole: bytes, now: float) -> bool:
        """Check the status line; a refused stream (429, 404) ends here."""
        self.headers, self.opened_at = True, now
        status = int(whole[9:12]) if whole.startswith(b"HTTP/1.") else 0
        self.tally.statuses[status] += 1
        if status != 200:
            self._finish(False)
            self.transport.close()
            return False
        if not self.skip:
            self._set(self.ready, True)
        return True

    def _events(self, whole: bytes, now: float) -> None:
        for match in TS.finditer(whole):
            if self.skip:  # the stored snapshot: not a live delivery
                self.skip = False
                self._set(self.ready, True)
                continue
            latency = (now - self.tally.ts(match.group(2))) * 1000
            self.tally.latencies.append(latency)
            self.tally.by_event.setdefault(match.group(2), []).append(latency)
        terminal = TERMINAL.search(whole)
        if terminal:
            ts = TS.search(whole, terminal.end())
            if ts:
                self.tally.terminal.append((now - self.tally.ts(ts.group(2))) * 1000)
            self._finish(True)
            self.transport.close()

    def _finish(self, ok: bool) -> None:
        self._set(self.ready, ok)
        self._set(self.done, ok)

    @staticmethod
    def _set(future: asyncio.Future[bool], value: bool) -> None:
        if not future.done():
            future.set_result(value)

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(False)

    def close(self) -> None:
        transport = getattr(self, "transport", None)  # none if the connect itself failed
        if transport is not None:
            transport.close()


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an ascending list, in ms rounded to 0.01."""
    if not ordered:
        return None
    return round(ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))], 2)


def raise_nofile() -> None:
    """Every connection is a descriptor: take the hard limit."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def get_request(args: argparse.Namespace, path: str, accept: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in args.header)
    return (f"GET {path} HTTP/1.1\r\nHost: {args.host}\r\nAccept: {accept}\r\n{extra}\r\n").encode()


async def open_streams(
    args: argparse.Namespace, tally: Tally, skip_first: bool
) -> tuple[list[Stream], float]:
    """Open --n streams per --path, BATCH at a time, each batch answered before the next."""
    loop = asyncio.get_running_loop()
    started, streams = time.time(), []
    requests = [get_request(args, p, "text/event-stream") for p in args.path]
    plan = [r for r in requests for _ in range(args.n)]
    deadline = loop.time() + args.connect_timeout
    for i in range(0, len(plan), BATCH):
        batch = []
        for request in plan[i : i + BATCH]:
            stream = Stream(request, tally, skip_first)
            try:
                await loop.create_connection(stream.itself, args.host, args.port)
            except OSError:
                stream.connection_lost(None)
                tally.statuses[-1] += 1  # refused at connect
            batch.append(stream)
        left = max(0.1, deadline - loop.time())
        await asyncio.wait([asyncio.ensure_future(s.ready) for s in batch], timeout=left)
        streams += batch
    return streams, time.time() - started


async def start_signal(args: argparse.Namespace, ready: dict[str, Any]) -> float:
    """Say we are ready; then POST --start-post ourselves, or wait for the driver's line."""
    print(json.dumps({"ready": ready}), flush=True)
    if args.start_post:
        for path in args.start_post:
            await post(args, path)
        return time.time()
    loop = asyncio.get_running_loop()
    line = await loop.run_in_executor(None, sys.stdin.readline)
    if not line:
        raise SystemExit("driver went away before the start")
    return time.time()


async def post(args: argparse.Namespace, path: str) -> int:
    """A bare POST on its own connection (no body), for --start-post."""
    reader, writer = await asyncio.open_connection(args.host, args.port)
    extra = "".join(f"{h}\r\n" for h in args.header)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {args.host}\r\nContent-Length: 0\r\n"
        f"Connection: close\r\n{extra}\r\n".encode()
    )
    status = await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    return int(status.split()[1])


async def run_stream(args: argparse.Namespace) -> dict[str, Any]:
    tally = Tally()
    streams, connect_s = await open_streams(args, tally, args.skip_first)
    await asyncio.sleep(args.settle)
    answered = sum(1 for s in streams if s.ready.done() and s.ready.result())
    t_go = await start_signal(args, {"streams": len(streams), "answered": answered})
    tally.latencies.clear()  # only what arrives after the start counts
    tally.by_event.clear()
    pending = [asyncio.ensure_future(s.done) for s in streams if not s.done.done()]
    if args.duration:
        await asyncio.sleep(args.duration)
    elif pending:
        await asyncio.wait(pending, timeout=args.timeout)
    run_s = time.time() - t_go
    for s in streams:
        s.close()
    completed = sum(1 for s in streams if s.done.done() and s.done.result())
    return stream_figures(tally, len(streams), answered, completed, connect_s, run_s)


def stream_figures(
    tally: Tally, n: int, answered: int, completed: int, connect_s: float, run_s: float
) -> dict[str, Any]:
    lat = sorted(tally.latencies)
    terminal = sorted(tally.terminal)
    return {
        "mode": "stream",
        "streams": n,
        "answered": answered,
        "statuses": dict(tally.statuses),
        "completed": completed,
        "events": len(lat),
        "events_per_s": round(len(lat) / run_s) if run_s else None,
        "p50_ms": percentile(lat, 0.5),
        "p99_ms": percentile(lat, 0.99),
        "max_ms": percentile(lat, 1.0),
        "slowest_events": slowest_events(tally.by_event),
        "terminal_n": len(terminal),
        "terminal_max_ms": percentile(terminal, 1.0),
        "connect_s": round(connect_s, 2),
        "run_s": round(run_s, 3),
    }


def slowest_events(by_event: dict[bytes, list[float]], top: int = 8) -> list[dict[str, Any]]:
    """The events with the worst median latency over their watchers: where the p99 comes from.

    Each names the event by its `ts` and its place in time order among all events seen.
    """
    order = {ts: i for i, ts in enumerate(sorted(by_event))}
    rows = []
    for ts, values in by_event.items():
        ordered = sorted(values)
        p50 = percentile(ordered, 0.5)
        rows.append({
            "ts": ts.decode(), "nth": order[ts] + 1, "watchers": len(values),
            "p50_ms": round(p50, 1) if p50 is not None else None,
            "max_ms": round(ordered[-1], 1),
        })  # fmt: skip
    rows.sort(key=lambda row: row["p50_ms"] or 0, reverse=True)
    return rows[:top]


@dataclass
class PollTally:
    rtts: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    reconnects: int = 0


async def poll_one(
    args: argparse.Namespace, conn: list[Any], go: asyncio.Event, stop_at: list[float], t: PollTally
) -> None:
    """One keep-alive client: GET, read the whole answer, wait out the rest of the period."""
    loop = asyncio.get_running_loop()
    request = get_request(args, args.path[0], "application/json")
    await go.wait()
    await asyncio.sleep(random.uniform(0, args.interval))  # spread clients over the period
    next_at = loop.time()
    while loop.time() < stop_at[0]:
        sent = time.perf_counter()
        try:
            status = await asyncio.wait_for(exchange(conn, request), args.request_timeout)
        except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
            t.statuses[-1] += 1
            await reconnect(args, conn, t)
            continue
        t.rtts.append((time.perf_counter() - sent) * 1000)
        t.statuses[status] += 1
        next_at = max(next_at + args.interval, loop.time())  # late: go on, never burst
        await asyncio.sleep(next_at - loop.time())


async def reconnect(args: argparse.Namespace, conn: list[Any], t: PollTally) -> None:
    """The server closed or stalled the connection: a new one (bounded by the loop's clock)."""
    conn[1].close()
    t.reconnects += 1
    try:
        conn[0], conn[1] = await asyncio.wait_for(
            asyncio.open_connection(args.host, args.port), args.request_timeout
        )
    except (OSError, TimeoutError):
        await asyncio.sleep(0.1)


async def exchange(conn: list[Any], request: bytes) -> int:
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    if length is None:
        raise ValueError("no content-length")
    await reader.readexactly(int(length.group(1)))
    return int(head[9:12])


async def run_poll(args: argparse.Namespace) -> dict[str, Any]:
    tally, go, stop_at = PollTally(), asyncio.Event(), [math.inf]
    conns: list[list[Any]] = []
    t0 = time.time()
    for i in range(args.n):
        conns.append(list(await asyncio.open_connection(args.host, args.port)))
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(0.05)
    tasks = [asyncio.ensure_future(poll_one(args, c, go, stop_at, tally)) for c in conns]
    t_go = await start_signal(args, {"connections": len(conns), "connect_s": time.time() - t0})
    stop_at[0] = asyncio.get_running_loop().time() + args.duration
    go.set()
    await asyncio.wait(tasks, timeout=args.duration + args.request_timeout + 5)
    run_s = time.time() - t_go
    for c in conns:
        c[1].close()
    rtts = sorted(tally.rtts)
    return {
        "mode": "poll",
        "clients": args.n,
        "requests": len(rtts),
        "requests_per_s": round(len(rtts) / run_s, 1),
        "offered_per_s": round(args.n / args.interval, 1),
        "statuses": dict(tally.statuses),
        "reconnects": tally.reconnects,
        "p50_ms": percentile(rtts, 0.5),
        "p99_ms": percentile(rtts, 0.99),
        "max_ms": percentile(rtts, 1.0),
        "run_s": round(run_s, 2),
    }


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0])


async def run_idle(args: argparse.Namespace) -> dict[str, Any]:
    """Hold streams open; count each one's pings and its longest silence; RSS growth."""
    tally = Tally()
    rss0 = rss_kb(args.rss_pid) if args.rss_pid else None
    streams, connect_s = await open_streams(args, tally, skip_first=False)
    await asyncio.sleep(args.hold)
    end = time.time()
    rss1 = rss_kb(args.rss_pid) if args.rss_pid else None
    alive = [s for s in streams if s.headers and not s.done.done()]
    gaps = [max(b - a for a, b in pairwise([s.opened_at, *s.pings, end])) for s in alive]
    limit = args.ping_interval * args.ping_slack if args.ping_interval else None
    for s in streams:
        s.close()
    figures: dict[str, Any] = {
        "mode": "idle",
        "streams": len(streams),
        "open_at_end": len(alive),
        "statuses": dict(tally.statuses),
        "connect_s": round(connect_s, 2),
        "pings": sum(len(s.pings) for s in alive),
        "worst_gap_s": round(max(gaps), 2) if gaps else None,
        "pinged_on_time": sum(1 for g in gaps if g <= limit) if limit else None,
    }
    if rss0 is not None and rss1 is not None:
        figures |= {"rss0_kb": rss0, "rss1_kb": rss1, "kb_per_stream": (rss1 - rss0) / len(streams)}
    return figures


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", choices=["stream", "poll", "idle"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", action="append", required=True, help="repeat for many runs")
    parser.add_argument("--n", type=int, default=100, help="connections per --path")
    parser.add_argument("--header", action="append", default=[])
    parser.add_argument("--skip-first", action="store_true", help="first event is a snapshot")
    parser.add_argument("--start-post", action="append", help="POST this path to start")
    parser.add_argument("--settle", type=float, default=0.5, help="pause once all are open")
    parser.add_argument("--duration", type=float, help="stream/poll: measure this long")
    parser.add_argument("--timeout", type=float, default=120, help="stream: wait for terminals")
    parser.add_argument("--connect-timeout", type=float, default=300)
    parser.add_argument("--interval", type=float, default=0.5, help="poll: period per client")
    parser.add_argument("--request-timeout", type=float, default=10)
    parser.add_argument("--hold", type=float, default=12, help="idle: hold this long")
    parser.add_argument("--rss-pid", type=int, help="idle: the server's pid")
    parser.add_argument("--ping-interval", type=float, help="idle: the server's ping period")
    parser.add_argument("--ping-slack", type=float, default=1.5, help="on time: gap <= this x")
    args = parser.parse_args(argv)
    if args.mode == "poll" and not args.duration:
        parser.error("poll needs --duration")
    return args


async def main(args: argparse.Namespace) -> None:
    raise_nofile()
    runner = {"stream": run_stream, "poll": run_poll, "idle": run_idle}[args.mode]
    figures = await runner(args)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    if _uvloop is not None:
        _uvloop.install()
    asyncio.run(main(parse_args()))
