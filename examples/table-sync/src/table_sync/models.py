"""Where the copy lands, and how far each run got (both in the application database)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class SyncedRecord(Base):
    """One source row, as copied: the same key copied again updates it (an upsert)."""

    __tablename__ = "table_sync_records"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "source_table", "source_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    source_table: Mapped[str] = mapped_column(sa.String(64))
    source_key: Mapped[int] = mapped_column(sa.BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    synced_at: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True))
    run_id: Mapped[str] = mapped_column(sa.String(32))


class SyncCheckpoint(Base):
    """The last key a run committed per table: where a resumed run carries on."""

    __tablename__ = "table_sync_checkpoints"

    run_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    source_table: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    last_key: Mapped[int] = mapped_column(sa.BigInteger)
    batches: Mapped[int] = mapped_column(sa.Integer)
