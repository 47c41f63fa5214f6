"""Fixtures: every integration test runs on SQLite and, when configured, PostgreSQL.

Set PROGRESS_SSE_TEST_DATABASE_URL (for example
postgresql://postgres@127.0.0.1:5432/test) to add the PostgreSQL run.
Each database is migrated once per session; SQLite tests copy the migrated
files, PostgreSQL tests start from truncated tables in a database created
for this session and dropped after it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from progress_sse.cli import admin
from progress_sse.plugins import discover
from progress_sse.settings import Settings, normalize_url
from progress_sse.storage import db
from tests.secret_scan import SecretScan, leaks_in_files

PG_URL = os.environ.get("PROGRESS_SSE_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("PROGRESS_SSE_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


def _fast(**overrides: object) -> dict[str, object]:
    """Test timings: short intervals so runs and heartbeats happen in milliseconds."""
    base: dict[str, object] = {
        "progress_interval_s": 0.02,
        "heartbeat_interval_s": 0.5,
        "poll_interval_s": 0.1,
        "ping_interval_s": 15,
        "retry_ms": 1000,
        "gc_freeze": False,  # many apps share one test process: freeze nothing of theirs
    }
    base.update(overrides)
    return base


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    settings = Settings(database_url=f"sqlite:///{folder}/store.db")
    asyncio.run(admin.migrate_all(settings))
    return folder


@pytest.fixture(scope="session")
def pg_migrated() -> Iterator[str | None]:
    """A database of this test session's own, so concurrent sessions never meet."""
    if not PG_URL:
        yield None
        return
    base = make_url(normalize_url(PG_URL))
    name = f"progress_sse_test_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(base, f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(admin.migrate_all(Settings(database_url=url)))
        yield url
    finally:
        asyncio.run(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: URL, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await engine.dispose()


async def _truncate(url: str) -> None:
    tables = discover(Settings()).metadata().sorted_tables  # every plugin's too
    engine = db.create_engine(url, Settings(database_url=url))
    try:
        async with engine.begin() as conn:
            names = ", ".join(t.name for t in tables)
            await conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_urls(
    backend: str, tmp_path: Path, sqlite_template: Path, pg_migrated: str | None
) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        for name in ("store.db", "store_app.db"):
            shutil.copy(sqlite_template / name, tmp_path / name)
        yield {"database_url": f"sqlite:///{tmp_path}/store.db"}
    else:
        assert pg_migrated is not None
        asyncio.run(_truncate(pg_migrated))
        yield {"database_url": pg_migrated}


@pytest.fixture
def make_settings(db_urls: dict[str, str]):  # type: ignore[no-untyped-def]
    def make(**overrides: object) -> Settings:
        return Settings(**{**db_urls, **_fast(**overrides)})  # type: ignore[arg-type]

    return make


@pytest.fixture
def settings(make_settings) -> Settings:  # type: ignore[no-untyped-def]
    return make_settings()  # type: ignore[no-any-return]


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[object]:
    from tests.support import run_server

    async with run_server(settings) as handle:
        yield handle


@pytest.fixture
def redis_settings() -> dict[str, str]:
    """Settings that share limits through Redis, under a key prefix of this test's own."""
    if not REDIS_URL:
        pytest.skip("set PROGRESS_SSE_TEST_REDIS_URL (CI sets it) for the Redis-backed limits")
    return {"redis_url": REDIS_URL, "redis_key_prefix": f"pss-test-{secrets.token_hex(6)}"}


@pytest.fixture(scope="session", autouse=True)
def no_secret_in_any_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecretScan]:
    """After the whole suite: no API key or session cookie appeared in any log."""
    scan = SecretScan()
    root, ours = logging.getLogger(), logging.getLogger("progress_sse")
    previous = ours.level
    ours.setLevel(logging.INFO)  # the access log and audit lines are at INFO
    root.addHandler(scan)
    try:
        yield scan
    finally:
        root.removeHandler(scan)
        ours.setLevel(previous)
    leaks = scan.leaks + leaks_in_files(tmp_path_factory.getbasetemp())
    assert not leaks, "secrets in the logs:\n" + "\n".join(leaks[:20])
