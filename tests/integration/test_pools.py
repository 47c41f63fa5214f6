"""Progress and heartbeats never wait behind business work, whatever the concurrency.

Each running job holds one business connection for its transaction. With
one shared pool, `worker --concurrency 40` starved its own heartbeats and
every run failed as stale; the run store now has its own pool, and the
business pool is sized from the concurrency.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from progress_sse.errors import Misconfigured
from progress_sse.plugins import discover
from progress_sse.settings import Settings
from progress_sse.web.app import open_services
from tests.integration.test_multiprocess import CLI, FAST
from tests.support import collect, run_server, start_run


async def test_forty_concurrent_runs_with_default_pools_all_complete(
    make_settings: Any, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer: forty business transactions take turns there")
    settings = make_settings(
        job_concurrency=40, stale_after_s=3, sweep_interval_s=0.5, rate_limit_starts=""
    )
    async with run_server(settings) as srv, srv.client() as client:
        run_ids = [
            await start_run(client, items=3, delay_ms=10, hold_ms=4000, lock=f"l{i}")
            for i in range(40)
        ]
        ends = await asyncio.gather(
            *(collect(client, f"/api/runs/{r}/events", limit_s=90) for r in run_ids)
        )
    outcomes = [frames[-2].event for frames in ends]
    assert outcomes == ["complete"] * 40, [f[-2].data.get("error_code") for f in ends]


def test_a_business_pool_smaller_than_the_concurrency_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="cannot serve PROGRESS_SSE_JOB_CONCURRENCY=24"):
        Settings(business_pool_size=10, job_concurrency=24)
    assert Settings(job_concurrency=40).business_pool == 44


async def test_worker_concurrency_above_its_business_pool_says_why_and_exits(
    tmp_path: Path,
) -> None:
    env = {
        "PROGRESS_SSE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/store.db",
        "PROGRESS_SSE_BUSINESS_POOL_SIZE": "10", **FAST,
    }  # fmt: skip
    worker = await asyncio.create_subprocess_exec(
        CLI, "worker", "--concurrency", "24", env=os.environ | env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(worker.communicate(), 60)
    assert worker.returncode != 0
    assert b"BUSINESS_POOL_SIZE=10 cannot serve PROGRESS_SSE_JOB_CONCURRENCY=24" in out
    assert b"Traceback" not in out


async def test_more_connections_than_postgresql_allows_is_refused_at_start(
    make_settings: Any, backend: str
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has no connection limit")
    settings = make_settings(job_concurrency=400, max_overflow=50)
    with pytest.raises(Misconfigured, match=r"may need \d+ PostgreSQL connections"):
        async with open_services(settings, discover(settings)):
            pass
