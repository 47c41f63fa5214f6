"""Months in order: a month is posted only after every earlier month that needed a posting.

A month needs a posting when some asset of the register depreciates in it.
Posting month M while such an earlier month has no posted document is
refused (409 `earlier_period_unposted`, naming the first such month), unless
the run says `allow_earlier_unposted`; that document then records the first
month it left behind (`earlier_unposted`), and later months are checked
only from that document on, as a tenant moving its books here from another
system opens them once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.accounting.depreciation.documents import DocumentKind, DocumentStatus
from progress_sse.accounting.depreciation.models import Asset, DepreciationDocument
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.accounting.depreciation.register import load_assets
from progress_sse.accounting.depreciation.schedule import (
    AssetTerms,
    Skipped,
    depreciate_cents,
    month_index,
)

Interval = tuple[int, int]  # first and last month index an asset may depreciate in


def candidate_months(
    target: int, posted: set[int], floor: int | None, intervals: Iterable[Interval]
) -> Iterator[int]:
    """Unposted month indices before `target` (and after `floor`) that some interval covers.

    Ascending. An interval is an upper bound on an asset's depreciable
    months (a schedule may finish early), so each candidate is confirmed
    against the schedule before it is named.
    """
    start = -1 if floor is None else floor
    covered: list[Interval] = sorted(intervals)
    month = start
    for first, last in covered:
        month = max(month, first - 1)
        while month < min(last, target - 1):
            month += 1
            if month > start and month not in posted:
                yield month


UNPOSTED = "earlier_period_unposted"


def unposted_message(first: Period, period: Period) -> str:
    return (
        f"{first} has no posted depreciation document, but assets of the register "
        f"depreciate in it. Post the months in order from {first}, or start {period} with "
        '"allow_earlier_unposted": true to post it anyway (the journal records that).'
    )


async def first_unposted_month(
    session: AsyncSession, tenant_id: str, period: Period
) -> Period | None:
    """The first earlier month that needed a posting and has none, or None.

    The usual case (the month after the last one posted) is answered from
    the posted months alone; otherwise one grouped query bounds the months
    that need a posting, and only when candidates remain are the assets
    alive in them loaded, once, and swept.
    """
    posted, floor = await _posted_months(session, tenant_id, period.index)
    if await _no_gap(session, tenant_id, period.index, posted, floor):
        return None
    intervals = await _intervals(session, tenant_id)
    candidates = list(candidate_months(period.index, posted, floor, intervals))
    if not candidates:
        return None
    dialect = session.get_bind().dialect.name
    alive = sa.and_(
        Asset.cost > Asset.salvage,
        _month_index(Asset.acquired_on, dialect) <= candidates[-1],
        _last_month(dialect) >= candidates[0],
    )
    assets = [terms for _, terms, _ in await load_assets(session, tenant_id, alive)]
    month = first_depreciating(candidates, assets)
    return None if month is None else Period.from_index(month)


def first_depreciating(candidates: Sequence[int], assets: Iterable[AssetTerms]) -> int | None:
    """The first of the ascending `candidates` in which some asset has an amount.

    An asset's months with an amount run without a break from its
    acquisition month to its last one (a finished or disposed asset stays
    so), so an asset that has none in a candidate at or after its
    acquisition has none later either and is dropped: each asset is
    computed at most once, whatever the number of candidates.
    """
    waiting = sorted(assets, key=_start, reverse=True)
    for month in candidates:
        period, pool = Period.from_index(month), []
        while waiting and _start(waiting[-1]) <= month:
            pool.append(waiting.pop())
        for terms in pool:
            if not isinstance(depreciate_cents(terms, period.year, period.month), Skipped):
                return month
    return None


async def _no_gap(
    session: AsyncSession, tenant_id: str, target: int, posted: set[int], floor: int | None
) -> bool:
    """Every month before `target` that `candidate_months` could name is posted.

    Those months lie after `floor` (or from the register's first acquisition
    with something to depreciate): when all of them are posted there is no
    candidate, whatever the assets' terms, and the grouped query over the
    whole register (`_intervals`) is not needed.
    """
    if floor is None:
        first = await session.scalar(
            sa.select(sa.func.min(Asset.acquired_on)).where(
                Asset.tenant_id == tenant_id, Asset.cost > Asset.salvage
            )
        )
        if first is None:  # nothing to depreciate in any month
            return True
        floor = month_index(first) - 1
    return all(month in posted for month in range(floor + 1, target))


def _start(terms: AssetTerms) -> int:
    return Period(terms.acquired_on.year, terms.acquired_on.month).index


async def _posted_months(
    session: AsyncSession, tenant_id: str, before: int
) -> tuple[set[int], int | None]:
    """Months with a posted document, and the latest one that was allowed to leave gaps."""
    doc = DepreciationDocument
    rows = await session.execute(
        sa.select(doc.year, doc.month, doc.earlier_unposted).where(
            doc.tenant_id == tenant_id,
            doc.kind == DocumentKind.DEPRECIATION,
            doc.status == DocumentStatus.POSTED,
        )
    )
    posted: set[int] = set()
    floor: int | None = None
    for year, month, allowed in rows:
        index = Period(year, month).index
        posted.add(index)
        if allowed is not None and index <= before:  # the month's own opening counts
            floor = index if floor is None else max(floor, index)
    return posted, floor


def _month_index(column: sa.ColumnElement[Any] | Any, dialect: str) -> sa.ColumnElement[int]:
    """`Period.index` of a date column, in SQL.

    SQLite keeps a date as YYYY-MM-DD text: its digits are cut out, which
    costs a 100,000-asset register a third of what STRFTIME (extract) does.
    """
    if dialect == "sqlite":
        year = sa.cast(sa.func.substr(column, 1, 4), sa.Integer)
        return year * 12 + sa.cast(sa.func.substr(column, 6, 2), sa.Integer) - 1
    return sa.extract("year", column) * 12 + sa.extract("month", column) - 1


def _last_month(dialect: str) -> sa.ColumnElement[int]:
    """The last month an asset may depreciate in: end of its life, or its disposal."""
    end_of_life = _month_index(Asset.acquired_on, dialect) + Asset.life_months - 1
    disposed = _month_index(Asset.disposed_on, dialect)
    return sa.case(
        (sa.and_(Asset.disposed_on.is_not(None), disposed < end_of_life), disposed),
        else_=end_of_life,
    )


async def _intervals(session: AsyncSession, tenant_id: str) -> list[Interval]:
    """One interval per acquisition month (the longest), in one grouped query."""
    dialect = session.get_bind().dialect.name
    first = _month_index(Asset.acquired_on, dialect)
    rows = await session.execute(
        sa.select(first, sa.func.max(_last_month(dialect)))
        .where(Asset.tenant_id == tenant_id, Asset.cost > Asset.salvage)
        .group_by(first)
    )
    return [(int(a), int(b)) for a, b in rows]
