"""What the `progress_sse.jobs` entry point names: the kind and this package's migrations."""

from __future__ import annotations

from pathlib import Path

from progress_sse import Plugin
from table_sync.job import TABLE_SYNC
from table_sync.models import Base

PLUGIN = Plugin(
    name="table_sync",
    kinds=(TABLE_SYNC,),
    migrations=Path(__file__).parent / "migrations",  # its own Alembic branch
    metadata=Base.metadata,  # the tables those migrations create
)
