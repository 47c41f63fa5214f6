"""Locked accounting periods: a closed month is never changed by a run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.accounting.depreciation.models import DocumentSequence, PeriodLock
from progress_sse.errors import Conflict
from progress_sse.runs.events import utc_now
from progress_sse.runs.store import RunStore
from progress_sse.storage.sql import dialect_insert


@dataclass(frozen=True, slots=True)
class Period:
    year: int
    month: int

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def index(self) -> int:
        """Months since year 0: consecutive months have consecutive indices."""
        return self.year * 12 + self.month - 1

    @classmethod
    def from_index(cls, index: int) -> Period:
        return cls(index // 12, index % 12 + 1)


def series_of(period: Period) -> str:
    """The document series of a month: `DEP/YYYY/MM` (numbers count within it)."""
    return f"DEP/{period.year:04d}/{period.month:02d}"


async def hold_month(session: AsyncSession, tenant_id: str, period: Period) -> None:
    """Take the month's document counter row until this transaction ends.

    A posting run holds it from its first number to its COMMIT, so a lock
    taken here waits for a posting in flight instead of slipping in between
    the run's last check of the lock and its commit.
    """
    counter = sa.and_(
        DocumentSequence.tenant_id == tenant_id, DocumentSequence.series == series_of(period)
    )
    await session.execute(
        dialect_insert(session, DocumentSequence)
        .values(tenant_id=tenant_id, series=series_of(period), last_value=0)
        .on_conflict_do_nothing(index_elements=["tenant_id", "series"])
    )
    await session.execute(sa.select(DocumentSequence.last_value).where(counter).with_for_update())


async def is_locked(session: AsyncSession, tenant_id: str, period: Period) -> bool:
    found = await session.scalar(
        sa.select(sa.literal(1)).where(
            PeriodLock.tenant_id == tenant_id,
            PeriodLock.year == period.year,
            PeriodLock.month == period.month,
        )
    )
    return found is not None


async def refuse_locked(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, period: Period
) -> None:
    """409 `period_locked` before a run is created for a closed month."""
    async with sessions() as session:
        if await is_locked(session, tenant_id, period):
            raise Conflict(
                f"The period {period} is locked; an admin must unlock it first.",
                code="period_locked",
            )


def lock_key_of(period: Period) -> str:
    """The lock key of a month's posting runs: one pending or running at a time."""
    return f"asset_depreciation:{period}"


async def refuse_while_posting(store: RunStore, tenant_id: str, period: Period) -> None:
    """409 `run_active` naming the month's pending or running posting run, if there is one.

    Locking under a running posting would either wait for its commit (SQLite's
    one writer) or make it fail at its last check; the caller decides instead.
    """
    active = await store.active_for_lock(tenant_id, lock_key_of(period))
    if active is not None:
        raise Conflict(
            f"A depreciation run of {period} is {active.status} (run {active.id}); "
            "lock the month after it has finished, or cancel it first.",
            code="run_active",
            run_id=active.id,
        )


async def lock(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, period: Period, by: str
) -> datetime:
    """Lock a month (idempotent); returns when it was locked."""
    async with sessions.begin() as session:
        return await lock_in(session, tenant_id, period, by)


async def lock_in(session: AsyncSession, tenant_id: str, period: Period, by: str) -> datetime:
    """`lock` in the caller's transaction (the `period_lock` job's)."""
    await hold_month(session, tenant_id, period)
    existing = await session.get(PeriodLock, (tenant_id, period.year, period.month))
    if existing is not None:
        return existing.locked_at
    row = PeriodLock(
        tenant_id=tenant_id, year=period.year, month=period.month,
        locked_at=utc_now(), locked_by=by,
    )  # fmt: skip
    session.add(row)
    return row.locked_at


async def unlock(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, period: Period
) -> bool:
    """Unlock a month; False when it was not locked."""
    async with sessions.begin() as session:
        result = await session.execute(
            sa.delete(PeriodLock).where(
                PeriodLock.tenant_id == tenant_id,
                PeriodLock.year == period.year,
                PeriodLock.month == period.month,
            )
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def locked_periods(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str
) -> list[PeriodLock]:
    async with sessions() as session:
        rows = await session.execute(
            sa.select(PeriodLock)
            .where(PeriodLock.tenant_id == tenant_id)
            .order_by(PeriodLock.year.desc(), PeriodLock.month.desc())
        )
        return list(rows.scalars())
