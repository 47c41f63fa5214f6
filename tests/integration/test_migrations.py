"""The Alembic history builds exactly the tables the models describe, on both databases."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from progress_sse.batches import models as _batches  # noqa: F401 - the batch tables
from progress_sse.plugins import discover
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.webhooks import models as _webhooks  # noqa: F401 - the webhook tables


def _diff(conn: Connection) -> list[Any]:
    tables = discover(Settings()).metadata()  # the engine's and every plugin's
    context = MigrationContext.configure(conn, opts={"compare_type": False})
    return list(compare_metadata(context, tables))


async def test_no_model_differs_from_the_migrated_schema(make_settings: Any) -> None:
    settings = make_settings()
    engine = db.create_engine(settings.database_url, settings)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert differences == []
