"""Locked accounting periods: a closed month is never changed by a run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.errors import Conflict
from progress_sse.events import utc_now
from progress_sse.jobs.depreciation.models import PeriodLock


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


async def lock(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, period: Period, by: str
) -> datetime:
    """Lock a month (idempotent); returns when it was locked."""
    async with sessions.begin() as session:
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
