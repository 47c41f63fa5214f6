"""The `batch_children` table: each child of a batch, in order, with or without a run yet."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from progress_sse.runs.models import Base, JSONType, SafeString, SafeText


class BatchChild(Base):
    """One child: its spec (kind, params, weight, what it waits for), its state in the batch,
    and its current run (a resume of a kind that cannot resume starts a new one).

    `percentage`, `message` and `step` are the child's last progress, copied here in the
    transaction that writes it, so a batch event is computed from this table alone.
    """

    __tablename__ = "batch_children"

    batch_id: Mapped[str] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(100))
    kind: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    weight: Mapped[float] = mapped_column(sa.Float)
    after: Mapped[list[int]] = mapped_column(JSONType)  # resolved: the defaults applied
    state: Mapped[str] = mapped_column(sa.String(16))
    run_id: Mapped[str | None] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    reason: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    percentage: Mapped[float] = mapped_column(sa.Float, default=0.0)
    message: Mapped[str] = mapped_column(SafeText, default="")
    step: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
