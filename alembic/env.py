"""Alembic environment: runs on a connection handed in by progress-sse, or on its own."""

from __future__ import annotations

import asyncio
from importlib import import_module

from alembic import context
from sqlalchemy.engine import Connection

from progress_sse.jobs import load_business_models
from progress_sse.models import Base

load_business_models()
import_module("progress_sse.webhooks.models")  # the run store's webhook tables
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_standalone() -> None:
    from progress_sse.db import create_engine
    from progress_sse.settings import Settings

    settings = Settings()
    for url in dict.fromkeys([settings.database_url, settings.business_url]):
        engine = create_engine(url, settings)
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_standalone())
