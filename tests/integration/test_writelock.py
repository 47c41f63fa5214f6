"""SQLite's one write lock: a run's transaction waits its turn, visibly and cancellably.

Another connection holds the lock (BEGIN IMMEDIATE) the way a long run's
business transaction does; `begin_writing` must call `on_wait` between its
attempts, go on once the lock is free, and stop when `on_wait` raises (a
cancel), whatever the configured busy timeout, 0 included.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from progress_sse.errors import RunCancelled
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.storage.writelock import begin_writing


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "lock.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:  # `with` alone does not close
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x INTEGER)")
    return path


@pytest.fixture
def holder(database: Path) -> Iterator[sqlite3.Connection]:
    """Another writer, holding the lock until the test commits it."""
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t VALUES (1)")
    yield conn
    conn.close()


@pytest.fixture(params=[0, 100, 5000], ids=lambda ms: f"busy-timeout-{ms}ms")
async def engine(database: Path, request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """The database through progress-sse's engine, with the configured busy timeout."""
    url = f"sqlite:///{database}"
    settings = Settings(database_url=url, sqlite_busy_timeout_ms=request.param)
    engine = db.create_engine(settings.database_url, settings)
    yield engine
    await engine.dispose()


async def test_a_writer_waits_for_the_lock_and_says_so_then_writes(
    engine: AsyncEngine, holder: sqlite3.Connection
) -> None:
    waits = 0

    async def on_wait() -> None:
        nonlocal waits
        waits += 1
        if waits == 3:
            holder.execute("COMMIT")  # the other run finishes writing

    session = await asyncio.wait_for(begin_writing(db.sessionmaker(engine), on_wait), 10)
    await session.execute(sa.text("INSERT INTO t VALUES (2)"))
    await session.commit()
    await session.close()
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT x FROM t ORDER BY x"))).scalars().all()
    assert waits == 3, "told once per attempt, and only while it waited"
    assert rows == [1, 2]


async def test_a_cancel_while_waiting_is_honoured_within_a_slice(
    engine: AsyncEngine, holder: sqlite3.Connection
) -> None:
    loop = asyncio.get_running_loop()
    cancel_at = loop.time() + 0.5

    async def on_wait() -> None:
        if loop.time() >= cancel_at:
            raise RunCancelled()

    with pytest.raises(RunCancelled):
        await begin_writing(db.sessionmaker(engine), on_wait)
    stopped = loop.time() - cancel_at
    holder.execute("COMMIT")
    # Nothing was left holding a connection or the lock: the next writer gets it at once.
    session = await asyncio.wait_for(begin_writing(db.sessionmaker(engine), on_wait), 5)
    await session.close()
    # Well under a busy timeout of 5 s: the wait is sliced (a loose bound: shared machines).
    assert stopped < 2.5, f"the cancel waited {stopped:.1f} s"
