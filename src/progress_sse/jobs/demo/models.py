"""Business table of the demo job (lives in the app database)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from progress_sse.runs.models import Base, UTCDateTime


class DemoItem(Base):
    __tablename__ = "demo_items"
    __table_args__ = (sa.UniqueConstraint("run_id", "item_no", name="uq_demo_items_run_item"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    run_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    item_no: Mapped[int] = mapped_column(sa.Integer)
    value: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
