"""A run's writing transaction on SQLite: wait for the one write lock visibly and cancellably.

SQLite has one writer per database. A deferred transaction that reads and
then writes fails at once with "database is locked" when another writer
committed in between, so a second run would fail where it should wait its
turn. A writing transaction therefore takes the lock at BEGIN (IMMEDIATE),
in slices of `WAIT_SLICE_MS`: between slices the caller's `on_wait` shows
that it waits and checks for a cancel, so neither a long writer nor a busy
timeout of 0 leaves a run silent, spinning or deaf to its cancel button.
PostgreSQL writers do not exclude each other: there the transaction simply begins.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.storage.db import SQLITE_BEGIN, SQLITE_BEGIN_WAIT_MS, is_busy

WAIT_SLICE_MS = 250  # how long one attempt waits for the lock inside SQLite
RETRY_PAUSE_S = 0.05  # between attempts, so a refused attempt never spins


async def begin_writing(
    sessions: async_sessionmaker[AsyncSession], on_wait: Callable[[], Awaitable[None]]
) -> AsyncSession:
    """A session in a transaction that may write; on SQLite it holds the write lock."""
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        session = sessions()
        await session.begin()
        return session
    options = {SQLITE_BEGIN: "IMMEDIATE", SQLITE_BEGIN_WAIT_MS: WAIT_SLICE_MS}
    while True:
        session = sessions()
        attempt = asyncio.ensure_future(session.connection(execution_options=options))
        try:
            await asyncio.shield(attempt)
            return session
        except OperationalError as exc:
            await session.close()
            if not is_busy(exc):
                raise
        except BaseException:  # cancelled while SQLite waits in its thread: let it finish
            with contextlib.suppress(Exception):
                await attempt
            await session.close()
            raise
        await on_wait()
        await asyncio.sleep(RETRY_PAUSE_S)
