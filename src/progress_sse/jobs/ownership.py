"""Which process runs jobs, held where a crash lets go of it at once.

Heartbeats alone tell a dead worker from a slow one only after
`stale_after_s`. The database knows sooner:

- SQLite: one process runs the jobs of a database file, and it holds an
  exclusive lock on `<file>.jobs.lock` (flock) for its life. The kernel
  drops the lock when the process dies, however it dies. A second process
  that would run jobs is refused; a process that gets the lock knows every
  `running` run is a dead predecessor's and fails it at once.
- PostgreSQL: every worker holds a session-level advisory lock keyed by its
  identity on a connection of its own. When the process dies its sessions
  end and the lock goes; `RunStore.orphaned_run_ids` finds the runs of
  workers whose lock is gone. A frozen or slow worker keeps its session and
  its lock, so it is never failed by this rule, only by its heartbeats.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import asyncpg

from progress_sse.errors import Misconfigured
from progress_sse.runs.store import WORKER_LOCK
from progress_sse.settings import Settings, is_sqlite
from progress_sse.streaming.pg_broker import asyncpg_dsn

log = logging.getLogger(__name__)


class JobsOwnedElsewhere(Misconfigured):
    """Another live process already runs the jobs of this SQLite database."""


class Ownership(Protocol):
    async def release(self) -> None: ...


class SqliteOwnership:
    """The flock on `<database file>.jobs.lock`, held until `release` (or death)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JobsOwnedElsewhere(
                f"Another process already runs the jobs of this SQLite database ({self.path} "
                "is locked). On SQLite one process runs jobs: start this one with --no-jobs, "
                "stop the other, or use PostgreSQL for several workers."
            ) from None
        self._fd = fd

    async def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


class PgOwnership:
    """A connection of its own holding this worker's advisory lock."""

    def __init__(self, dsn: str, worker_id: str) -> None:
        self.dsn, self.worker_id = dsn, worker_id
        self._conn: Any = None

    async def acquire(self) -> None:
        self._conn = await asyncpg.connect(
            self.dsn, server_settings={"application_name": "progress-sse worker lock"}
        )
        await self._conn.execute(
            "SELECT pg_advisory_lock($1, hashtext($2))", WORKER_LOCK, self.worker_id
        )

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def release(self) -> None:
        if self._conn is not None:
            await self._conn.close()  # the session ends: so does its lock
            self._conn = None


def sqlite_jobs_lock(database_url: str) -> Path | None:
    """`<file>.jobs.lock` beside a file database; None for an in-memory one."""
    path = database_url.split(":///", 1)[1] if ":///" in database_url else ""
    if not path or path.startswith(":memory:"):
        return None
    return Path(path).with_name(Path(path).name + ".jobs.lock")


async def take_ownership(settings: Settings, worker_id: str) -> Ownership | None:
    """Hold what marks this process as the one running these jobs (see the module)."""
    if is_sqlite(settings.database_url):
        path = sqlite_jobs_lock(settings.database_url)
        if path is None:
            return None
        owner = SqliteOwnership(path)
        owner.acquire()
        return owner
    pg = PgOwnership(asyncpg_dsn(settings.database_url), worker_id)
    await pg.acquire()
    return pg
