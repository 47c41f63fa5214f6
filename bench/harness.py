"""What every benchmark in bench/ shares: databases, server processes, the load process.

Servers and the load generator each run in a process of their own (as they
would in production, and so one's CPU is not charged to the other). Every
wait is bounded, and every process started here is stopped on the way out,
whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from progress_sse.cli import admin
from progress_sse.settings import Settings, normalize_url
from progress_sse.storage import db
from progress_sse.web.security.auth import Role, create_key

BENCH = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).parent / "progress-sse")
RESULTS = BENCH / "RESULTS.md"
RESULTS_HEADER = (
    "# Benchmark results\n\nFigures from `bench/`; each names the command that made it.\n"
)
GATE = {"items": 1, "delay_ms": 0, "hold_ms": 600_000, "lock": "gate"}


@dataclass(frozen=True)
class Row:
    """One line of the suite's table; `met` is None where there is no target."""

    scenario: str
    server: str
    figures: str
    target: str = ""
    met: bool | None = None
    ratio: str = ""
    note: str = ""  # printed under the table (what to do, why a figure is as it is)


@contextlib.asynccontextmanager
async def sqlite_db() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="pss-bench-") as folder:
        yield f"sqlite:///{folder}/bench.db"


@contextlib.asynccontextmanager
async def postgres_db(base_url: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database for one benchmark, dropped (forcibly) afterwards."""
    base = sa.make_url(normalize_url(base_url))
    name = f"progress_sse_bench_{secrets.token_hex(3)}"
    admin_engine = create_async_engine(base, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    async with admin_engine.connect() as conn:
        await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin_engine.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin_engine.dispose()


async def pg_setting(base_url: str, name: str) -> str:
    engine = create_async_engine(normalize_url(base_url), poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return str((await conn.exec_driver_sql(f"SHOW {name}")).scalar())
    finally:
        await engine.dispose()


async def prepare(url: str) -> str:
    """Migrate a fresh database and return an admin key of tenant `bench`."""
    settings = Settings(database_url=url)
    await admin.migrate_all(settings)
    engine = db.create_engine(settings.database_url, settings)
    try:
        return str(await create_key(db.sessionmaker(engine), "bench", Role.ADMIN))
    finally:
        await engine.dispose()


def ours_env(url: str, streams: int, **extra: str | int | float) -> dict[str, str]:
    """The service's settings for a benchmark: caps above the load, request limits off."""
    env = {
        "PROGRESS_SSE_DATABASE_URL": url,
        "PROGRESS_SSE_LOG_LEVEL": "warning",
        # One key opens every watcher here: lift the per-key and per-tenant caps past it.
        "PROGRESS_SSE_MAX_STREAMS_PER_KEY": str(streams + 100),
        "PROGRESS_SSE_MAX_STREAMS_PER_TENANT": str(streams + 100),
        "PROGRESS_SSE_RATE_LIMIT_REQUESTS": "",
        "PROGRESS_SSE_RATE_LIMIT_STARTS": "",
    }
    env |= {f"PROGRESS_SSE_{k.upper()}": str(v) for k, v in extra.items()}
    return env


def raise_nofile() -> None:
    """Servers inherit this process's limit: 10,000 streams need 10,000 descriptors."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    """Read the kernel's socket table: a probe connection would be a stream to raw_limit."""
    suffix = f":{port:04X}"
    with open("/proc/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return any(row[1].endswith(suffix) and row[3] == "0A" for row in rows)


def worker_pids(pid: int) -> list[int]:
    """uvicorn's worker processes under `serve --workers N`: children of `pid` started by
    multiprocessing's spawn (not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                spawned = b"spawn_main" in (entry / "cmdline").read_bytes()
                if spawned and int(stat.rpartition(")")[2].split()[1]) == pid:
                    found.append(int(entry.name))
    return sorted(found)


def connections_per_process(port: int, pids: list[int]) -> dict[int, int]:
    """Established connections to `port` held by each of `pids`, from the kernel's tables:
    which process the kernel handed each accepted connection to."""
    inodes: dict[str, int] = {}
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name) as table:
            for row in (line.split() for line in table.readlines()[1:]):
                if row[1].endswith(f":{port:04X}") and row[3] == "01":
                    inodes[row[9]] = 0
    counts = dict.fromkeys(pids, 0)
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    link = os.readlink(fd)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        counts[pid] += 1
    return counts


@dataclass
class Server:
    """A server process under test."""

    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path
    key: str = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def auth(self) -> list[str]:
        return [f"Authorization: Bearer {self.key}"] if self.key else []

    def connections(self) -> dict[int, int]:
        """Open connections per serving process: its workers under `--workers N`, else itself."""
        return connections_per_process(self.port, worker_pids(self.pid) or [self.pid])

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def spawn(
    name: str, argv: list[str], logs: Path, env: Mapping[str, str] | None = None, key: str = ""
) -> AsyncIterator[Server]:
    """Start a server, wait (bounded) until its port listens, and always stop it after."""
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in argv]
    log = logs / f"{name}-{port}.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, env=os.environ | dict(env or {}), cwd=BENCH, stdout=out, stderr=subprocess.STDOUT
        )
    server = Server(name, port, proc, log, key)
    try:
        deadline = time.monotonic() + 60
        while not listening(port):
            if proc.returncode is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{server.log_tail()}")
            await asyncio.sleep(0.1)
        yield server
    finally:
        await stop(proc)


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL: a server with a job in its grace period must not hold us up."""
    if proc.returncode is None:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 8)
        except TimeoutError:
            proc.kill()
            await proc.wait()


def naive(logs: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    """The naive baseline on uvicorn's defaults (uvloop, httptools), like ours."""
    argv = [sys.executable, "-m", "uvicorn", "naive_peer:app", "--port", "{port}"]
    return spawn("naive_peer", [*argv, "--log-level", "warning"], logs)


def raw(logs: Path) -> contextlib.AbstractAsyncContextManager[Server]:
    return spawn("raw_limit", [sys.executable, "raw_limit.py", "{port}"], logs)


@contextlib.asynccontextmanager
async def ours(
    logs: Path, key: str, env: dict[str, str], *args: str, name: str = "progress-sse"
) -> AsyncIterator[Server]:
    """`progress-sse serve` (one process), healthy before it is handed out."""
    async with spawn(name, [CLI, "serve", "--port", "{port}", *args], logs, env, key) as server:
        async with api(server) as client:
            for _ in range(100):
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        yield server


@contextlib.asynccontextmanager
async def ours_gated(
    logs: Path, streams: int, **extra: str | int | float
) -> AsyncIterator[tuple[Server, httpx.AsyncClient, dict[str, Any]]]:
    """Our server (SQLite, one job slot) with a gate run holding that slot.

    A run started now stays queued until the gate is cancelled, so watchers can
    all be connected before it begins.
    """
    async with sqlite_db() as url:
        key = await prepare(url)
        env = ours_env(url, streams, job_concurrency=1, **extra)
        async with ours(logs, key, env) as server, api(server) as client:
            gate = await start_run(client, GATE)
            await wait_status(client, gate["id"], {"running"})
            yield server, client, gate


def api(server: Server) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {server.key}"} if server.key else {}
    return httpx.AsyncClient(base_url=server.base, headers=headers, timeout=30)


async def start_run(client: httpx.AsyncClient, params: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post("/api/runs", json={"kind": "demo", "params": params})
    if answer.status_code != 202:
        raise RuntimeError(f"POST /api/runs: {answer.status_code} {answer.text[:300]}")
    return dict(answer.json())


async def cancel(client: httpx.AsyncClient, run_id: str) -> None:
    answer = await client.post(f"/api/runs/{run_id}/cancel")
    if answer.status_code not in (202, 409):  # 409: it ended already
        raise RuntimeError(f"cancel {run_id}: {answer.status_code} {answer.text[:300]}")


async def show(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    return dict((await client.get(f"/api/runs/{run_id}")).json()["data"])


async def wait_status(
    client: httpx.AsyncClient, run_id: str, statuses: set[str], limit_s: float = 60
) -> dict[str, Any]:
    """Poll (bounded) until the run reaches one of these statuses."""
    deadline = time.monotonic() + limit_s
    while True:
        run = await show(client, run_id)
        if run["status"] in statuses:
            return run
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run['status']} after {limit_s} s")
        await asyncio.sleep(0.1)


def run_seconds(run: dict[str, Any]) -> float:
    """started_at -> finished_at of a shown run."""
    from datetime import datetime

    start, end = (datetime.fromisoformat(run[k]) for k in ("started_at", "finished_at"))
    return (end - start).total_seconds()


async def statements(client: httpx.AsyncClient) -> float:
    """progress_sse_db_statements_total from /metrics (the scrape itself costs ~2)."""
    text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("progress_sse_db_statements_total"):
            return float(line.split()[-1])
    raise RuntimeError("no progress_sse_db_statements_total in /metrics")


class Load:
    """The load generator (bench/load.py) as a child process, driven over its stdin/stdout."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    async def line(self, limit_s: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), limit_s)
        if not raw:
            raise RuntimeError(f"load generator ended (exit {await self.proc.wait()})")
        return dict(json.loads(raw))

    async def ready(self, limit_s: float = 300) -> dict[str, Any]:
        return dict((await self.line(limit_s))["ready"])

    async def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()


@contextlib.asynccontextmanager
async def load(mode: str, server: Server, *args: str | int | float) -> AsyncIterator[Load]:
    argv = [sys.executable, str(BENCH / "load.py"), mode, "--port", str(server.port)]
    for header in server.auth():
        argv += ["--header", header]
    proc = await asyncio.create_subprocess_exec(
        *argv, *map(str, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        yield Load(proc)
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


async def drive(
    server: Server, mode: str, args: list[str | int | float], trigger: Any, limit_s: float = 300
) -> dict[str, Any]:
    """Open the load, run `trigger()` once it is connected, return its figures."""
    async with load(mode, server, *args) as gen:
        try:
            await gen.ready(600)  # 10,000 streams to a slow server take a while
            await gen.go()
            await trigger()
            figures = await gen.line(limit_s)
        except (RuntimeError, TimeoutError) as error:
            if dead := died(server):
                raise dead from error
            raise
    if slowest := figures.get("slowest_events"):  # where a p99 comes from: in the suite's log
        print(f"  slowest events on {server.name}: {json.dumps(slowest)}", file=sys.stderr)
    return figures


async def hold_open(
    server: Server, mode: str, args: list[str | int | float], limit_s: float
) -> dict[str, Any]:
    """A load that needs no start (idle): just its figures."""
    async with load(mode, server, *args) as gen:
        try:
            return await gen.line(limit_s)
        except (RuntimeError, TimeoutError) as error:
            if dead := died(server):
                raise dead from error
            raise


def died(server: Server) -> RuntimeError | None:
    """If the server is gone, that is the story, not the load generator's complaint."""
    if server.proc.returncode is None:
        return None
    return RuntimeError(
        f"{server.name} (pid {server.pid}) exited with {server.proc.returncode} during the "
        f"load; its log ends:\n{server.log_tail()}"
    )


@contextlib.asynccontextmanager
async def worker(logs: Path, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """`progress-sse worker`: runs jobs, serves no HTTP."""
    with (logs / "worker.log").open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            CLI, "worker", env=os.environ | env, cwd=BENCH, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        await stop(proc)


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"
