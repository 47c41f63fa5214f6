"""Business tables of the fixed-asset register and its depreciation (app database)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from progress_sse.runs.models import Base, ExactDecimal, JSONType, UTCDateTime


class Asset(Base):
    __tablename__ = "assets"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "code", name="uq_assets_tenant_code"),
        # The schedule trusts rows read back from here (see schedule.StoredTerms).
        sa.CheckConstraint("cost >= 0", name="cost_not_negative"),
        sa.CheckConstraint("salvage >= 0 AND salvage <= cost", name="salvage_within_cost"),
        sa.CheckConstraint("life_months >= 1", name="life_positive"),
        sa.CheckConstraint("method IN ('straight_line', 'declining_balance')", name="method"),
        # The rate is 0 < r <= 1; SQLite stores it in millionths (see ExactDecimal).
        sa.CheckConstraint(
            "method <> 'declining_balance' OR "
            "(annual_rate IS NOT NULL AND annual_rate > 0 AND annual_rate <= 1)",
            name="declining_rate",
        ).ddl_if(dialect="postgresql"),
        sa.CheckConstraint(
            "method <> 'declining_balance' OR "
            "(annual_rate IS NOT NULL AND annual_rate > 0 AND annual_rate <= 1000000)",
            name="declining_rate",
        ).ddl_if(dialect="sqlite"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    code: Mapped[str] = mapped_column(sa.String(64))
    name: Mapped[str] = mapped_column(sa.String(200))
    category: Mapped[str] = mapped_column(sa.String(100), default="")
    acquired_on: Mapped[date] = mapped_column(sa.Date)
    cost: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    salvage: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    life_months: Mapped[int] = mapped_column(sa.Integer)
    method: Mapped[str] = mapped_column(sa.String(32))
    annual_rate: Mapped[Decimal | None] = mapped_column(ExactDecimal(9, 6), nullable=True)
    tax_group: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    disposed_on: Mapped[date | None] = mapped_column(sa.Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DepreciationDocument(Base):
    """One posting of a month (`kind` depreciation) or the reversal of one (`kind` reversal).

    Documents are never deleted: a rerun of a posted month reverses the
    earlier document (`status` reversed, and a reversal document that
    `reverses` it) and posts a new one. At most one depreciation document of
    a month is `posted` at a time, which the partial unique index enforces.
    """

    __tablename__ = "depreciation_documents"
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "document_no", name="uq_depreciation_documents_number"),
        sa.Index(
            "uq_depreciation_documents_posted_month", "tenant_id", "year", "month",
            unique=True,
            sqlite_where=sa.text("kind = 'depreciation' AND status = 'posted'"),
            postgresql_where=sa.text("kind = 'depreciation' AND status = 'posted'"),
        ),
        sa.CheckConstraint("kind IN ('depreciation', 'reversal')", name="kind"),
        sa.CheckConstraint("status IN ('posted', 'reversed')", name="status"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    document_no: Mapped[str] = mapped_column(sa.String(32))
    year: Mapped[int] = mapped_column(sa.Integer)
    month: Mapped[int] = mapped_column(sa.Integer)
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    reverses_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("depreciation_documents.id"), nullable=True
    )
    run_id: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    created_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    params: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # The first earlier month left unposted when the run was told to allow it (YYYY-MM),
    # or "migrated" on a tenant's first document from before months were kept in order.
    earlier_unposted: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    entry_count: Mapped[int] = mapped_column(sa.Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))


class DepreciationEntry(Base):
    __tablename__ = "depreciation_entries"
    __table_args__ = (
        sa.UniqueConstraint("document_id", "asset_id", name="uq_depreciation_entries_line"),
        sa.Index("ix_depreciation_entries_period", "tenant_id", "year", "month"),
        sa.Index("ix_depreciation_entries_asset", "asset_id"),
    )

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    document_id: Mapped[int] = mapped_column(sa.ForeignKey("depreciation_documents.id"))
    # Posted history outlives nothing it was computed from: an asset with entries stays.
    asset_id: Mapped[int] = mapped_column(sa.ForeignKey("assets.id"))
    year: Mapped[int] = mapped_column(sa.Integer)
    month: Mapped[int] = mapped_column(sa.Integer)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    accumulated: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    book_value: Mapped[Decimal] = mapped_column(ExactDecimal(18, 2))
    document_no: Mapped[str] = mapped_column(sa.String(32))
    run_id: Mapped[str] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PeriodLock(Base):
    """A closed month: no depreciation run may change it until an admin unlocks it."""

    __tablename__ = "period_locks"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    year: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    month: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    locked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_by: Mapped[str] = mapped_column(sa.String(200), default="")


class DocumentSequence(Base):
    """Document counters per tenant and series (`DEP/YYYY/MM`: one per month).

    The counter row changes in the run's own transaction, so a rollback
    takes the number back: a series has no gaps.
    """

    __tablename__ = "document_sequences"

    tenant_id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    series: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    last_value: Mapped[int] = mapped_column(sa.Integer, default=0)
