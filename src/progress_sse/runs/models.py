"""SQLAlchemy models of the run store (tenants, keys, browser sessions, runs, steps, events).

Business tables of jobs live next to their job (`jobs/*/models.py`) on the
same `Base`, so one Alembic history describes every database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from progress_sse.storage.text import scrub

# The reserved kind of a batch's own row (progress_sse.batches): a batch is a run whose
# events, stream, replay and webhooks are a run's, but no runner ever claims it.
BATCH_KIND = "batch"

# NUL in JSON is handled once, by the engines' serializer (db.json_without_nul).
JSONType = sa.JSON().with_variant(JSONB(), "postgresql")


class SafeText(TypeDecorator[str]):
    """Text with NUL replaced by U+FFFD, so hostile input stores alike on both databases."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else scrub(value)


class SafeString(TypeDecorator[str]):
    """A bounded string with NUL replaced, as in `SafeText`."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else scrub(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on both dialects (SQLite stores no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal of at most `precision` digits, `scale` of them after the point.

    PostgreSQL: NUMERIC(precision, scale), bound and read as `Decimal`.
    SQLite: an INTEGER of minor units (value x 10^scale). SQLite has no exact
    decimal type: a NUMERIC column keeps 0.125 as a REAL, and a REAL holds 15
    significant digits, fewer than a large register's totals need. A 64-bit
    integer holds every NUMERIC(18, s) value exactly, and SUM over it stays exact.

    A value that does not fit (more places than `scale`, more digits than
    `precision`, not finite) is refused on bind; nothing is ever rounded here.
    """

    impl = sa.Numeric  # the class: TypeDecorator builds Numeric(precision, scale) from it
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        super().__init__(precision, scale)
        self.precision, self.scale = precision, scale
        self.limit = Decimal(10) ** (precision - scale)

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = self.check(value)
        return int(exact.scaleb(self.scale)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(value).scaleb(-self.scale)
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))

    def check(self, value: Decimal | int) -> Decimal:
        """`value` with exactly `scale` places; `ValueError` if that would change it."""
        number = Decimal(value)
        if not number.is_finite() or abs(number) >= self.limit:
            raise ValueError(f"{value} does not fit NUMERIC({self.precision}, {self.scale})")
        exact = number.quantize(Decimal(1).scaleb(-self.scale))
        if exact != number:
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        return exact


class Base(DeclarativeBase):
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    role: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        # One active run per lock key: `active_lock` is the lock key while the
        # run is pending or running and NULL after, so the database refuses a
        # second one even when two starts race on two hosts.
        sa.UniqueConstraint("tenant_id", "active_lock", name="uq_runs_active_lock"),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_runs_idempotency"),
        sa.Index("ix_runs_tenant_created", "tenant_id", "id"),
        sa.Index("ix_runs_status", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16))
    percentage: Mapped[float] = mapped_column(sa.Float, default=0.0)
    message: Mapped[str] = mapped_column(SafeText, default="")
    current_step: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    processed: Mapped[int] = mapped_column(sa.Integer, default=0)
    skipped: Mapped[int] = mapped_column(sa.Integer, default=0)
    total: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    rate: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    eta_s: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    seq: Mapped[int] = mapped_column(sa.Integer, default=0)
    attempt: Mapped[int] = mapped_column(sa.Integer, default=0)
    lock_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    active_lock: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # Asked to pause at its next safe point (migration 0007); `status` says once it has.
    pause_requested: Mapped[bool] = mapped_column(
        sa.Boolean, default=False, server_default=sa.false()
    )
    lease_token: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    worker_id: Mapped[str | None] = mapped_column(sa.String(128), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(SafeText, nullable=True)
    error_code: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    created_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    # The batch this run is a child of (no foreign key: see migration 0006).
    parent_id: Mapped[str | None] = mapped_column(sa.String(32), nullable=True, index=True)


class RunStep(Base):
    __tablename__ = "run_steps"

    run_id: Mapped[str] = mapped_column(
        sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    name: Mapped[str] = mapped_column(SafeString(64))
    status: Mapped[str] = mapped_column(sa.String(16))
    pct_start: Mapped[float] = mapped_column(sa.Float)
    pct_end: Mapped[float] = mapped_column(sa.Float)
    processed: Mapped[int] = mapped_column(sa.Integer, default=0)
    skipped: Mapped[int] = mapped_column(sa.Integer, default=0)
    total: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(SafeText, nullable=True)


class RunEventRow(Base):
    __tablename__ = "run_events"
    __table_args__ = (sa.UniqueConstraint("run_id", "seq", name="uq_run_events_run_seq"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(sa.Integer)
    event: Mapped[str | None] = mapped_column(sa.String(16), nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BrowserSession(Base):
    """A browser session behind a `pss_session` cookie, so it can be ended server-side.

    `id` is the SHA-256 of the random token the signed cookie carries: like a
    key's hash, a copy of this table (even with the signing secret) signs no
    one in. A row outlives its revocation until it expires, then is purged.
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    key_id: Mapped[int] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # indexed: every process asks for the recently revoked ones every few seconds
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
