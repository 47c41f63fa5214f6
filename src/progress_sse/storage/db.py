"""Engines, sessions and migrations for SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from progress_sse.errors import Misconfigured
from progress_sse.settings import Settings, is_sqlite
from progress_sse.storage.text import scrub


def create_engine(
    url: str,
    settings: Settings,
    *,
    pool_size: int | None = None,
    server_settings: dict[str, str] | None = None,
) -> AsyncEngine:
    """An engine with the pool limits of `settings`; SQLite gets WAL and a busy timeout.

    `server_settings` are PostgreSQL session settings for every connection
    (timeouts); SQLite ignores them.
    """
    kwargs: dict[str, Any] = {
        "pool_size": pool_size or settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout_s,
        "pool_pre_ping": not is_sqlite(url),
        "json_serializer": json_without_nul,
    }
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        kwargs["connect_args"] = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
    elif server_settings:
        kwargs["connect_args"] = {"server_settings": server_settings}
    engine = create_async_engine(url, **kwargs)
    if is_sqlite(url):
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
    return engine


def store_engine(settings: Settings) -> AsyncEngine:
    """The run store's engine: progress, heartbeats, sweeps and API reads, never job work.

    Its statements are short, so on PostgreSQL none may run, wait for a lock
    or sit idle in a transaction for long: a frozen process cannot hold a
    run's row (and with it every reader and the stale sweeper) for more
    than a few seconds.
    """
    timeout_ms = int(settings.store_statement_timeout_s * 1000)
    return create_engine(
        settings.database_url,
        settings,
        server_settings={
            "application_name": "progress-sse store",
            "statement_timeout": str(timeout_ms),
            "lock_timeout": str(min(timeout_ms, STORE_LOCK_TIMEOUT_MS)),
            "idle_in_transaction_session_timeout": str(timeout_ms * 2),
        },
    )


def business_engine(settings: Settings) -> AsyncEngine:
    """The engine of jobs' business transactions, with a pool of its own.

    Each running job holds one connection for its whole transaction, so the
    pool is sized from the concurrency (`Settings.business_pool`); progress
    and heartbeats use the store's pool and never wait behind job work. On
    PostgreSQL a run waits at most `business_lock_wait_s` for another
    transaction's locks (a frozen worker's, say), then fails saying so.
    """
    return create_engine(
        settings.business_url,
        settings,
        pool_size=settings.business_pool,
        server_settings={
            "application_name": "progress-sse jobs",
            "lock_timeout": str(int(settings.business_lock_wait_s * 1000)),
        },
    )


STORE_LOCK_TIMEOUT_MS = 5000
OWN_CONNECTIONS = 2  # the LISTEN connection and the worker's lock connection


def connections_needed(settings: Settings) -> int:
    """The most PostgreSQL connections one process opens (both pools full, plus its own)."""
    store = settings.pool_size + settings.max_overflow
    return store + settings.business_pool + settings.max_overflow + OWN_CONNECTIONS


async def check_connection_budget(engine: AsyncEngine, settings: Settings) -> None:
    """Refuse to start when this process alone could need more connections than PostgreSQL
    allows: under load its pools would wait, then fail, instead of refusing now."""
    if engine.dialect.name != "postgresql":
        return
    async with engine.connect() as conn:
        limit = int(await conn.scalar(sa.text("SHOW max_connections")) or 0)
        reserved = int(await conn.scalar(sa.text("SHOW superuser_reserved_connections")) or 0)
    need = connections_needed(settings)
    if need > limit - reserved:
        raise Misconfigured(
            f"This process may need {need} PostgreSQL connections (POOL_SIZE + MAX_OVERFLOW "
            f"for the run store, BUSINESS_POOL_SIZE + MAX_OVERFLOW for {settings.job_concurrency}"
            f" concurrent jobs, 2 of its own), but the server allows {limit - reserved}. Lower "
            "JOB_CONCURRENCY or the pools, or raise max_connections on the server."
        )


def is_lock_timeout(exc: BaseException) -> bool:
    """PostgreSQL gave up waiting for a lock (SQLSTATE 55P03, `lock_timeout`)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "55P03" or "55P03" in str(getattr(orig, "pgcode", ""))


def json_without_nul(value: Any) -> str:
    """JSON for every JSON/JSONB column, with NUL replaced (PostgreSQL stores none).

    One C-speed scan of the text; only a document that contains an escaped NUL
    is walked and encoded again, so both databases store the same thing.
    """
    text = json.dumps(value)
    return json.dumps(scrub(value)) if "\\u0000" in text else text


def _ensure_sqlite_dir(url: str) -> None:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL lets readers run beside the one writer; BEGIN is ours, not pysqlite's.

    pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT, so we
    turn it off and emit BEGIN ourselves (SQLAlchemy's documented recipe).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        mode, wait_ms = options.get(SQLITE_BEGIN, ""), options.get(SQLITE_BEGIN_WAIT_MS)
        if wait_ms is None:
            conn.exec_driver_sql(f"BEGIN {mode}".strip())
            return
        # One slice of waiting for the write lock; the statements after BEGIN wait as usual.
        conn.exec_driver_sql(f"PRAGMA busy_timeout={int(wait_ms)}")
        try:
            conn.exec_driver_sql(f"BEGIN {mode}".strip())
        finally:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")


SQLITE_BEGIN = "progress_sse_sqlite_begin"
SQLITE_BEGIN_WAIT_MS = "progress_sse_sqlite_begin_wait_ms"


class Sessions(async_sessionmaker[AsyncSession]):
    """`sessions()` for reads; `sessions.begin()` for a write transaction.

    On SQLite a write transaction takes the write lock at BEGIN (IMMEDIATE).
    A deferred one that reads first and then writes fails at once with
    "database is locked" when another writer committed in between (WAL
    snapshots cannot be upgraded), whereas IMMEDIATE simply waits its turn
    within the busy timeout. Other databases ignore the option.
    """

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncSession]:  # type: ignore[override]
        async with self() as session, session.begin():
            await session.connection(execution_options={SQLITE_BEGIN: "IMMEDIATE"})
            yield session


def is_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked": another connection holds the one write lock."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


def on_postgresql(sessions: async_sessionmaker[Any]) -> bool:
    """Whether these sessions talk to PostgreSQL (SKIP LOCKED, NOTIFY, server clock)."""
    bind = sessions.kw.get("bind")
    return bind is not None and bind.dialect.name == "postgresql"


def sessionmaker(engine: AsyncEngine) -> Sessions:
    return Sessions(engine, expire_on_commit=False)


@asynccontextmanager
async def sessions_for(url: str, settings: Settings) -> AsyncIterator[Sessions]:
    """Sessions on an engine of their own, disposed at the end (a CLI command, a seed)."""
    engine = create_engine(url, settings)
    try:
        yield sessionmaker(engine)
    finally:
        await engine.dispose()


def alembic_config(plugin_folders: Sequence[Path] = ()) -> Config:
    """Alembic's config, found in the installed package or in the source checkout.

    Each plugin with tables brings a folder of revisions: its own branch, so
    an upgrade goes to every head.
    """
    here = Path(__file__).resolve().parents[1]  # the package folder
    for folder, ini in (
        (here / "_migrations", here / "_migrations" / "alembic.ini"),
        (here.parents[1] / "alembic", here.parents[1] / "alembic.ini"),
    ):
        if folder.is_dir():
            cfg = Config(str(ini)) if ini.is_file() else Config()
            cfg.set_main_option("script_location", str(folder))
            cfg.set_main_option("path_separator", "os")
            locations = [folder / "versions", *plugin_folders]
            cfg.set_main_option("version_locations", os.pathsep.join(map(str, locations)))
            return cfg
    raise RuntimeError("Alembic migrations not found next to the package")


def _upgrade(connection: Connection, cfg: Config) -> None:
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "heads")


async def upgrade(engine: AsyncEngine, plugin_folders: Sequence[Path] = ()) -> None:
    """Migrate the database behind `engine` to every Alembic head (the engine's, plugins')."""
    cfg = alembic_config(plugin_folders)
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, cfg)


def _revisions(connection: Connection) -> set[str]:
    """The revisions Alembic recorded, read from its table: `MigrationContext` would log two
    INFO lines on every readiness probe."""
    if not sa.inspect(connection).has_table("alembic_version"):
        return set()
    return {
        row[0] for row in connection.execute(sa.text("SELECT version_num FROM alembic_version"))
    }


async def schema_state(
    engine: AsyncEngine, plugin_folders: Sequence[Path] = ()
) -> Literal["current", "behind", "missing"]:
    """Whether the database is at every Alembic head, behind them, or was never migrated."""
    heads = set(ScriptDirectory.from_config(alembic_config(plugin_folders)).get_heads())
    async with engine.connect() as conn:
        current = await conn.run_sync(_revisions)
    return "current" if current == heads else "behind" if current else "missing"


async def schema_is_current(engine: AsyncEngine, plugin_folders: Sequence[Path] = ()) -> bool:
    """True when the database is reachable and at every Alembic head."""
    return await schema_state(engine, plugin_folders) == "current"


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
