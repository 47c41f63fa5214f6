"""A dead worker's runs end in seconds, not after `stale_after_s`; a slow one's never do.

SQLite: the one process that runs a database's jobs holds a file lock; a
restarted `serve` fails what its killed predecessor left running at once,
and a second job-running process is refused. PostgreSQL: each worker holds
an advisory lock for its life; its runs are failed as soon as the lock is
gone, while a frozen worker keeps it and is judged by its heartbeats only.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from progress_sse.cli import admin
from progress_sse.settings import Settings
from tests.conftest import PG_URL
from tests.integration.test_multiprocess import (
    CLI,
    FAST,
    _healthy,
    admin_key,
    free_port,
    spawn,
)
from tests.support import collect, run_server, run_status, start_run, wait_for

LONG_RUN = {"items": 2, "delay_ms": 0, "hold_ms": 60_000, "lock": "month-end"}


async def _serving(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as probe:
        await wait_for(lambda: _healthy(probe), limit_s=30, every_s=0.1)


async def _running(client: httpx.AsyncClient, run_id: str) -> bool:
    return bool((await run_status(client, run_id))["status"] == "running")


async def test_a_restarted_sqlite_server_fails_what_its_killed_self_left_running(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/store.db"
    env = {"PROGRESS_SSE_DATABASE_URL": url, "PROGRESS_SSE_SHUTDOWN_GRACE_S": "1", **FAST}
    await admin.migrate_all(Settings(database_url=url))
    key = await admin_key(url)
    port = free_port()
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        async with spawn("serve", "--port", str(port), env=env, log=tmp_path / "a.log") as a:
            await _serving(base)
            run_id = await start_run(client, **LONG_RUN)
            await wait_for(lambda: _running(client, run_id))
            a.kill()  # kill -9: no shutdown, no final write
            await a.wait()
        async with spawn("serve", "--port", str(port), env=env, log=tmp_path / "b.log"):
            await _serving(base)
            state = await run_status(client, run_id)  # at once, not in 300 s
            again = await client.post("/api/runs", json={"kind": "demo", "params": LONG_RUN})
    assert state["status"] == "failed" and state["error_code"] == "worker_lost"
    assert "stopped before the run finished" in state["error"]
    assert again.status_code == 202, "the month's lock is free again"


async def test_a_second_job_running_process_on_one_sqlite_file_is_refused(
    make_settings: Any, backend: str, tmp_path: Path
) -> None:
    if backend != "sqlite":
        pytest.skip("several workers on PostgreSQL are the point of PostgreSQL")
    settings = make_settings()
    env = {"PROGRESS_SSE_DATABASE_URL": settings.database_url, **FAST}
    async with run_server(settings):  # this process runs the jobs
        refused = await asyncio.create_subprocess_exec(
            CLI, "worker", env=os.environ | env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(refused.communicate(), 30)
        port = free_port()
        async with spawn("serve", "--no-jobs", "--port", str(port), env=env,
                         log=tmp_path / "nojobs.log"):  # fmt: skip
            await _serving(f"http://127.0.0.1:{port}")  # serving without jobs is fine
    assert refused.returncode != 0
    assert b"Another process already runs the jobs of this SQLite database" in out
    assert b"Traceback" not in out


@pytest.mark.skipif(not PG_URL, reason="workers on several processes need PostgreSQL")
async def test_a_killed_postgresql_worker_is_known_dead_in_seconds_a_frozen_one_is_not(
    db_urls: dict[str, str], make_settings: Any, backend: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("this one is about PostgreSQL sessions")
    env = {"PROGRESS_SSE_DATABASE_URL": db_urls["database_url"], **FAST}  # stale: 300 s
    watcher = make_settings(run_jobs=False, heartbeat_interval_s=0.5, stale_after_s=300)
    async with run_server(watcher) as srv, srv.client() as client:
        async with spawn("worker", env=env, log=tmp_path / "frozen.log") as frozen:
            slow = await start_run(client, **{**LONG_RUN, "hold_ms": 4_000, "lock": "slow"})
            await wait_for(lambda: _running(client, slow))
            frozen.send_signal(signal.SIGSTOP)  # alive but silent: its session and lock stay
            await asyncio.sleep(3)  # several orphan sweeps (every 0.5 s)
            still = await run_status(client, slow)
            frozen.send_signal(signal.SIGCONT)
            finished = await collect(client, f"/api/runs/{slow}/events", limit_s=60)
        async with spawn("worker", env=env, log=tmp_path / "killed.log") as killed:
            dead = await start_run(client, **LONG_RUN)
            await wait_for(lambda: _running(client, dead))
            killed.kill()
            started = asyncio.get_running_loop().time()
            frames = await collect(client, f"/api/runs/{dead}/events", limit_s=60)
            seconds = asyncio.get_running_loop().time() - started
    assert still["status"] == "running", "a frozen worker is not failed by the orphan rule"
    assert finished[-2].event == "complete"
    assert frames[-2].event == "error" and frames[-2].data["error_code"] == "worker_lost"
    assert seconds < 30, f"known dead after {seconds:.1f} s, with stale_after_s at 300 s"


async def test_a_second_job_running_serve_is_refused_in_one_line_before_it_starts(
    make_settings: Any, backend: str, tmp_path: Path
) -> None:
    if backend != "sqlite":
        pytest.skip("several workers on PostgreSQL are the point of PostgreSQL")
    settings = make_settings()
    env = {"PROGRESS_SSE_DATABASE_URL": settings.database_url, **FAST}
    async with run_server(settings):  # this process runs the jobs
        second = await asyncio.create_subprocess_exec(
            CLI, "serve", "--port", str(free_port()), env=os.environ | env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(second.communicate(), 30)
    assert second.returncode == 1
    assert err.startswith(b"error: Another process already runs the jobs of this SQLite")
    assert b"Traceback" not in out + err
