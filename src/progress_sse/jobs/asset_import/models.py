"""Uploads waiting to be imported, and the chunks an import has committed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from progress_sse.models import Base, UTCDateTime


class AssetUpload(Base):
    __tablename__ = "asset_uploads"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    sha256: Mapped[str] = mapped_column(sa.String(64))
    content: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ImportChunk(Base):
    """Written in the same transaction as the chunk's rows: a resumed run skips it."""

    __tablename__ = "import_chunks"

    run_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    chunk_index: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    rows: Mapped[int] = mapped_column(sa.Integer)
    attempt: Mapped[int] = mapped_column(sa.Integer)
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime())
