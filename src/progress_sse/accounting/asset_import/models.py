"""Uploads waiting to be imported, and the chunks an import has committed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from progress_sse.runs.models import Base, JSONType, SafeText, UTCDateTime


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


class ImportRejection(Base):
    """A row an import refused: its line, code, reason and raw fields (for rejected.csv).

    Parse-time rejections are written when the file is checked, and the rows
    refused against the register (posted history) with the chunk they were
    in, so a resumed run lists every one exactly once.
    """

    __tablename__ = "import_rejections"

    run_id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    line: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    code: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    reason: Mapped[str] = mapped_column(SafeText)
    fields: Mapped[list[Any]] = mapped_column(JSONType)
