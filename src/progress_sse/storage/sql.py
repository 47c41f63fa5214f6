"""Small dialect-aware SQL helpers shared by jobs (upserts differ per dialect)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """`INSERT` that knows `ON CONFLICT` on the session's dialect (SQLite and PostgreSQL)."""
    bind = session.get_bind()
    module = postgresql if bind.dialect.name == "postgresql" else sqlite
    return module.insert(table)
