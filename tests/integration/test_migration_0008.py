"""0008 adds `channel` in place: every webhook, queued notification and dead letter written
before it survives as a webhook's (no table is copied, so no ON DELETE CASCADE fires on
SQLite), and going back removes only the mail rows."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from progress_sse.settings import Settings, normalize_url
from progress_sse.storage import db
from tests.conftest import PG_URL, _admin

NOW = "'2026-12-01 00:00:00'"
ROWS = [
    "INSERT INTO tenants (id, name, created_at) VALUES ('acme', 'acme', {now})",
    "INSERT INTO webhooks (id, tenant_id, url, secret, events, description, created_at) "
    "VALUES (1, 'acme', 'https://hooks.example.com/x', 'whsec_x', '[\"error\"]', '', {now})",
    "INSERT INTO notifications (id, tenant_id, webhook_id, run_id, event, url, body, status, "
    "attempts, next_attempt_at, created_at) VALUES ('n1', 'acme', 1, 'r1', 'error', "
    "'https://hooks.example.com/x', '{{}}', 'dead', 4, {now}, {now})",
    "INSERT INTO failed_notifications (notification_id, tenant_id, webhook_id, run_id, event, "
    "url, attempts, failed_at, retried) VALUES ('n1', 'acme', 1, 'r1', 'error', "
    "'https://hooks.example.com/x', 4, {now}, {false})",
]
TABLES = ("webhooks", "notifications", "failed_notifications")


def _to(connection: Connection, revision: str, down: bool) -> None:
    cfg = db.alembic_config()
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


async def migrate(engine: AsyncEngine, revision: str, *, down: bool = False) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_to, revision, down)


@pytest.fixture
async def at_0007(backend: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A run store at 0007 with a webhook, its notification and its dead letter."""
    name = None
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/old.db"
    else:
        assert PG_URL is not None
        name = f"progress_sse_m8_{os.getpid()}_{secrets.token_hex(3)}"
        await _admin(make_url(normalize_url(PG_URL)), f'CREATE DATABASE "{name}"')
        url = make_url(normalize_url(PG_URL)).set(database=name).render_as_string(False)
    engine = db.create_engine(url, Settings(database_url=url))
    try:
        await migrate(engine, "0007")
        false = "0" if backend == "sqlite" else "false"
        async with engine.begin() as conn:
            for row in ROWS:
                await conn.execute(sa.text(row.format(now=NOW, false=false)))
        yield engine
    finally:
        await engine.dispose()
        if name is not None:
            await _admin(
                make_url(normalize_url(PG_URL or "")), f'DROP DATABASE "{name}" WITH (FORCE)'
            )


async def channels(engine: AsyncEngine) -> dict[str, list[str]]:
    async with engine.connect() as conn:
        return {
            table: list((await conn.execute(sa.text(f"SELECT channel FROM {table}"))).scalars())
            for table in TABLES
        }


async def counts(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return [
            int((await conn.execute(sa.text(f"SELECT count(*) FROM {t}"))).scalar_one())
            for t in TABLES
        ]


async def test_0008_keeps_every_webhook_row_as_a_webhook_s(at_0007: AsyncEngine) -> None:
    await migrate(at_0007, "0008")
    assert await channels(at_0007) == {table: ["webhook"] for table in TABLES}


MAIL_ROWS = [
    "INSERT INTO webhooks (id, tenant_id, url, secret, events, description, created_at, "
    "channel) VALUES (2, 'acme', 'mailto:a@example.com', 'x', '[\"error\"]', '', {now}, 'mail')",
    "INSERT INTO notifications (id, tenant_id, webhook_id, run_id, event, url, body, status, "
    "attempts, next_attempt_at, created_at, channel) VALUES ('n2', 'acme', 2, 'r1', 'error', "
    "'mailto:a@example.com', 'From: ...', 'dead', 4, {now}, {now}, 'mail')",
    "INSERT INTO failed_notifications (notification_id, tenant_id, webhook_id, run_id, event, "
    "url, attempts, failed_at, retried, channel) VALUES ('n2', 'acme', 2, 'r1', 'error', "
    "'mailto:a@example.com', 4, {now}, {false}, 'mail')",
]


async def test_going_back_from_0008_removes_only_the_mail_rows(at_0007: AsyncEngine) -> None:
    await migrate(at_0007, "0008")
    false = "0" if at_0007.dialect.name == "sqlite" else "false"
    async with at_0007.begin() as conn:
        for row in MAIL_ROWS:
            await conn.execute(sa.text(row.format(now=NOW, false=false)))
    assert await counts(at_0007) == [2, 2, 2]
    await migrate(at_0007, "0007", down=True)
    assert await counts(at_0007) == [1, 1, 1], "the webhook's rows stay, the mail rows go"
