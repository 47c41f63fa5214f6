"""Several processes on one PostgreSQL: fan-out across them, a lost listener, racing workers.

These need PostgreSQL (SQLite serves one process); they run whenever
PROGRESS_SSE_TEST_DATABASE_URL is set, as in CI.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from progress_sse.jobs.demo.models import DemoItem
from progress_sse.runs.models import Run
from progress_sse.settings import Settings, normalize_url
from progress_sse.storage import db
from progress_sse.streaming.pg_broker import LISTENER_NAME, asyncpg_dsn
from progress_sse.web.security.auth import Role, create_key
from tests.conftest import PG_URL
from tests.integration.test_metrics import samples
from tests.support import collect, run_server, start_run, transitions, wait_for

pytestmark = pytest.mark.skipif(not PG_URL, reason="several processes need PostgreSQL")
CLI = str(Path(sys.executable).parent / "progress-sse")
FAST = {
    "PROGRESS_SSE_PROGRESS_INTERVAL_S": "0.02",
    "PROGRESS_SSE_POLL_INTERVAL_S": "0.1",
    "PROGRESS_SSE_HEARTBEAT_INTERVAL_S": "0.5",
    "PROGRESS_SSE_LISTEN_PROBE_S": "0.5",
    "PROGRESS_SSE_LOG_LEVEL": "warning",
}


@pytest.fixture
def backend() -> str:
    return "postgresql"


@pytest.fixture
def pg_env(db_urls: dict[str, str]) -> dict[str, str]:
    return {"PROGRESS_SSE_DATABASE_URL": db_urls["database_url"], **FAST}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def spawn(*args: str, env: dict[str, str], log: Path) -> AsyncIterator[Any]:
    with log.open("w") as out:
        proc = await asyncio.create_subprocess_exec(
            CLI, *args, env=os.environ | env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def serve(env: dict[str, str], log: Path) -> AsyncIterator[str]:
    port = free_port()
    async with spawn("serve", "--no-jobs", "--port", str(port), env=env, log=log):
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base) as client:
            await wait_for(lambda: _healthy(client), limit_s=30, every_s=0.1)
        yield base


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/healthz")).status_code == 200
    except httpx.HTTPError:
        return False


async def admin_key(url: str) -> str:
    settings = Settings(database_url=url)
    engine = db.create_engine(url, settings)
    try:
        return await create_key(db.sessionmaker(engine), "acme", Role.ADMIN)
    finally:
        await engine.dispose()


async def test_a_run_on_a_worker_streams_to_watchers_on_two_other_processes(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    key = await admin_key(pg_env["PROGRESS_SSE_DATABASE_URL"])
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        serve(pg_env, tmp_path / "a.log") as a,
        serve(pg_env, tmp_path / "b.log") as b,
        spawn("worker", env=pg_env, log=tmp_path / "worker.log"),
        httpx.AsyncClient(base_url=a, headers=headers, timeout=30) as on_a,
        httpx.AsyncClient(base_url=b, headers=headers, timeout=30) as on_b,
    ):
        started = await on_a.post(
            "/api/runs", json={"kind": "demo", "params": {"items": 40, "delay_ms": 20}}
        )
        url = started.json()["events_url"]
        seen_a, seen_b = await asyncio.gather(
            collect(on_a, url, headers={"Last-Event-ID": "0"}),
            collect(on_b, url, headers={"Last-Event-ID": "0"}),
        )
        log = (await on_b.get(url.replace("/events", "/log"))).json()["data"]
    persisted = [e["seq"] for e in log]
    for frames in (seen_a, seen_b):
        ids = [f.seq for f in frames if f.event != "end"]
        assert ids == sorted(set(ids)) and set(ids) <= set(persisted)
        assert frames[-2].event == "complete" and frames[-2].seq == persisted[-1]
    assert transitions(seen_a) == transitions(seen_b)
    assert ("process", "completed") in transitions(seen_a)


async def test_watchers_miss_nothing_when_the_listener_connection_is_killed(
    pg_env: dict[str, str], make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings(run_jobs=False, listen_probe_s=0.5)
    assert PG_URL is not None
    async with (
        # Listeners of others: another service on the shared database, another process on ours.
        bystander(PG_URL) as elsewhere,
        bystander(pg_env["PROGRESS_SSE_DATABASE_URL"]) as beside,
        run_server(settings) as srv,  # this process only watches; the worker runs the job
        spawn("worker", env=pg_env, log=tmp_path / "worker.log"),
        srv.client() as client,
    ):
        started = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"items": 60, "delay_ms": 25}}
        )
        url = started.json()["events_url"]
        watching = asyncio.create_task(collect(client, url, headers={"Last-Event-ID": "0"}))
        await asyncio.sleep(0.6)
        broker: Any = srv.services.broker
        killed = await _kill_listener(srv.services.engine, broker)
        frames = await watching
        log = (await client.get(url.replace("/events", "/log"))).json()["data"]
        others_alive = [await conn.fetchval("SELECT true") for conn in (elsewhere, beside)]
    assert killed == 1 and broker.reconnects >= 1
    assert others_alive == [True, True], "no one else's listener was terminated"
    from tests.support import Frame

    expected = transitions([Frame(str(e["seq"]), e["event"] or "message", e["data"]) for e in log])
    assert transitions(frames) == expected, "every step and the terminal event arrived"


@contextlib.asynccontextmanager
async def bystander(url: str) -> AsyncIterator[Any]:
    """A connection named like a listener that is not this test's to end."""
    conn = await asyncpg.connect(
        asyncpg_dsn(normalize_url(url)), server_settings={"application_name": LISTENER_NAME}
    )
    try:
        yield conn
    finally:
        await conn.close()


async def _kill_listener(engine: Any, broker: Any) -> int:
    """End this server's LISTEN connection, and nothing else on a server others share.

    Only the backend of this process's broker (its pid), in this session's own database:
    other services' and other test runs' listeners, and the worker's, stay up.
    """
    async with engine.connect() as conn:
        killed = await conn.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE pid = :pid AND datname = current_database() "
                "AND application_name = :name"
            ),
            {"pid": broker._conn.get_server_pid(), "name": LISTENER_NAME},
        )
    return int(killed)


async def test_two_workers_racing_run_each_of_200_runs_exactly_once(
    pg_env: dict[str, str], make_settings: Any, tmp_path: Path
) -> None:
    no_start_limit = make_settings(run_jobs=False, rate_limit_starts="")  # 200 starts at once
    async with run_server(no_start_limit) as srv, srv.client() as client:
        for i in range(200):
            response = await client.post(
                "/api/runs",
                json={"kind": "demo", "params": {"items": 1, "delay_ms": 0, "lock": f"r{i}"}},
            )
            assert response.status_code == 202
        engine = srv.services.engine
        async with (
            spawn("worker", "--concurrency", "4", env=pg_env, log=tmp_path / "w1.log"),
            spawn("worker", "--concurrency", "4", env=pg_env, log=tmp_path / "w2.log"),
        ):
            await wait_for(lambda: _all_done(engine), limit_s=120, every_s=0.2)
        async with engine.connect() as conn:
            attempts = (await conn.execute(sa.select(Run.attempt, Run.worker_id))).all()
            rows = await conn.scalar(sa.select(sa.func.count()).select_from(DemoItem))
    assert len(attempts) == 200 and {a for a, _ in attempts} == {1}, "each run claimed once"
    assert rows == 200, "each run's work committed exactly once"
    assert len({w.rsplit(":", 1)[0] for _, w in attempts}) == 2, "both workers took runs"


async def _all_done(engine: Any) -> bool:
    async with engine.connect() as conn:
        left = await conn.scalar(
            sa.select(sa.func.count()).select_from(Run).where(Run.status != "completed")
        )
    return left == 0


async def test_serve_workers_share_one_view_of_the_metrics(
    db_urls: dict[str, str], make_settings: Any, tmp_path: Path
) -> None:
    """PROMETHEUS_MULTIPROC_DIR: a scrape of either worker counts every worker's streams."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    env = {
        "PROGRESS_SSE_DATABASE_URL": db_urls["database_url"],
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "PROGRESS_SSE_SESSION_SECRET": "s" * 32,
        **FAST,
    }
    args = ("serve", "--workers", "2", "--no-jobs", "--port", str(port))
    async with (
        run_server(make_settings()) as srv,
        srv.client() as api,
        spawn(*args, env=env, log=tmp_path / "serve.log"),
    ):
        run_id = await start_run(api, items=3000, delay_ms=10)
        headers = {"Authorization": f"Bearer {srv.keys['acme']}"}
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as served:
            await wait_for(lambda: _healthy(served), limit_s=30)
            async with contextlib.AsyncExitStack() as streams:
                for _ in range(6):  # new connections: the kernel spreads them over the workers
                    client = await streams.enter_async_context(
                        httpx.AsyncClient(base_url=base, headers=headers, timeout=30)
                    )
                    stream = await streams.enter_async_context(
                        client.stream("GET", f"/api/runs/{run_id}/events")
                    )
                    lines = stream.aiter_lines()
                    await anext(lines)
                    streams.push_async_callback(lines.aclose)
                total = await wait_for(lambda: _streams_open(served, 6), limit_s=20)
        await api.post(f"/api/runs/{run_id}/cancel")
    assert total == 6
    assert len(list(folder.glob("*.db"))) >= 2, "each worker wrote its own values"


async def _streams_open(client: httpx.AsyncClient, expected: int) -> float:
    value = samples((await client.get("/metrics")).text).get("progress_sse_streams_open", 0)
    return value if value == expected else 0


async def test_a_pause_asked_through_one_process_stops_a_worker_in_another(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    """No fast path here: the flag reaches the worker with its next progress write, it stops
    before its next chunk, and a resume is taken by whichever worker is free."""
    key = await admin_key(pg_env["PROGRESS_SSE_DATABASE_URL"])
    params = {"tables": ["customers"], "batch_size": 20, "scale": 0.5, "delay_ms": 50}
    async with (
        serve(pg_env, tmp_path / "api.log") as api,
        spawn("worker", env=pg_env, log=tmp_path / "worker.log"),
        httpx.AsyncClient(base_url=api, headers={"Authorization": f"Bearer {key}"}) as client,
    ):
        started = await client.post("/api/runs", json={"kind": "table_sync", "params": params})
        run_url = started.json()["url"]

        async def state(*statuses: str) -> dict[str, Any] | None:
            run: dict[str, Any] = (await client.get(run_url)).json()["data"]
            return run if run["status"] in statuses or (not statuses and run["processed"]) else None

        await wait_for(lambda: state(), limit_s=30)  # it has committed a chunk or more
        asked = await client.post(f"{run_url}/pause")
        paused = await wait_for(lambda: state("paused"), limit_s=30)
        resumed = await client.post(f"{run_url}/resume")
        frames = await collect(client, started.json()["events_url"], headers={"Last-Event-ID": "0"})
    assert asked.status_code == 202 and asked.json()["data"]["pause_requested"] is True
    assert 0 < paused["processed"] < 600, "it stopped partway"
    assert resumed.status_code == 202
    assert frames[-2].event == "complete" and frames[-2].data["result"]["records_processed"] == 600
    statuses = [f.data.get("status") for f in frames if f.event == "message"]
    assert "paused" in statuses and statuses.index("paused") < len(statuses) - 1
    ids = [f.seq for f in frames if f.event != "end"]
    assert ids == sorted(set(ids))


async def test_serve_workers_stream_every_event_on_either_process_and_pass_a_cancel_on(
    pg_env: dict[str, str], tmp_path: Path
) -> None:
    """`serve --workers 2 --no-jobs` beside a `worker`: streams held by either serving process
    get the run's events in order (every step change, the terminal event), and a cancel
    answered by one of them stops the job on the third process."""
    env = pg_env | {"PROGRESS_SSE_RATE_LIMIT_REQUESTS": ""}
    key = await admin_key(env["PROGRESS_SSE_DATABASE_URL"])
    headers = {"Authorization": f"Bearer {key}"}
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ("serve", "--workers", "2", "--no-jobs", "--port", str(port))
    async with (
        spawn(*args, env=env, log=tmp_path / "serve.log") as served,
        spawn("worker", env=env, log=tmp_path / "worker.log"),
        httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as api,
        contextlib.AsyncExitStack() as stack,
    ):
        await wait_for(lambda: _healthy(api), limit_s=30)
        pids = await wait_for(lambda: asyncio.to_thread(_serving_pids, served.pid, 2))
        run_id = await start_run(api, items=3000, delay_ms=10)
        url = f"/api/runs/{run_id}/events"
        watching: list[asyncio.Task[list[Any]]] = []
        held: dict[int, int] = {}
        for _ in range(40):  # new connections until each serving process holds two
            client = httpx.AsyncClient(base_url=base, headers=headers, timeout=60)
            await stack.enter_async_context(client)
            seen = collect(client, url, headers={"Last-Event-ID": "0"}, limit_s=90)
            watching.append(asyncio.create_task(seen))
            accepted = functools.partial(asyncio.to_thread, _accepted, port, pids, len(watching))
            held = await wait_for(accepted)
            if min(held.values()) >= 2:
                break
        await wait_for(lambda: _processed(api, run_id, 100), limit_s=60)  # live, not replayed
        cancel = await api.post(f"/api/runs/{run_id}/cancel")
        streams = await asyncio.gather(*watching)
        run = (await api.get(f"/api/runs/{run_id}")).json()["data"]
        log = (await api.get(f"/api/runs/{run_id}/log")).json()["data"]
    assert min(held.values()) >= 2, f"the kernel gave every connection to one process: {held}"
    assert cancel.status_code == 202
    assert run["status"] == "cancelled" and run["processed"] < 3000, "the job stopped early"
    from tests.support import Frame

    persisted = [e["seq"] for e in log]
    expected = transitions([Frame(str(e["seq"]), e["event"] or "message", e["data"]) for e in log])
    assert expected[-1] == ("cancelled",)
    for frames in streams:
        ids = [f.seq for f in frames if f.event != "end"]
        assert ids == sorted(set(ids)) and set(ids) <= set(persisted)
        assert frames[-2].event == "cancelled" and frames[-2].seq == persisted[-1]
        assert transitions(frames) == expected, "every step change and the end arrived"


def _serving_pids(supervisor: int, count: int) -> list[int] | None:
    """uvicorn's worker processes under `serve --workers N` (spawned children)."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            if parent == supervisor and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found if len(found) == count else None


def _accepted(port: int, pids: list[int], expected: int) -> dict[int, int] | None:
    """Connections to `port` each process holds, once all `expected` are accepted."""
    sockets = set()
    with open("/proc/net/tcp") as table:
        for row in (line.split() for line in table.readlines()[1:]):
            if row[1].endswith(f":{port:04X}") and row[3] == "01":  # established, server side
                sockets.add(f"socket:[{row[9]}]")
    held = dict.fromkeys(pids, 0)
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                held[pid] += os.readlink(fd) in sockets
    return held if sum(held.values()) == expected else None


async def _processed(client: httpx.AsyncClient, run_id: str, at_least: int) -> bool:
    run = (await client.get(f"/api/runs/{run_id}")).json()["data"]
    return bool(run["processed"] >= at_least)
