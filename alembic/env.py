"""Alembic environment: runs on a connection handed in by progress-sse, or on its own.

`progress-sse db upgrade` adds each plugin's folder of revisions (its own
branch) to the version locations. Run on its own (`alembic revision
--autogenerate`), this discovers the plugins, whose tables then join the metadata.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from progress_sse.batches import models as _batches  # noqa: F401 - the batch tables
from progress_sse.plugins import discover
from progress_sse.runs.models import Base
from progress_sse.settings import Settings
from progress_sse.webhooks import models as _webhooks  # noqa: F401 - the run store's webhook tables

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
    from progress_sse.storage.db import create_engine

    global target_metadata
    settings = Settings()
    target_metadata = discover(settings).metadata()  # the engine's tables and every plugin's
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
