"""Benchmark: a month-end depreciation run over N assets, against a per-asset ORM loop.

    .venv/bin/python bench/depreciation.py --assets 100000 \
        --pg postgresql://postgres@127.0.0.1:5432/test

Each backend gets a fresh database (a temp folder for SQLite, a new
PostgreSQL database that is dropped afterwards), the demo register of N
assets, and then:
  * the real `asset_depreciation` job through the real runner (progress on,
    default 10 writes/s), timed from the run's started_at to finished_at;
  * the same job with progress tracking off (every progress call is a no-op);
  * the naive baseline: one ORM object and one flush per asset, as a
    hand-written controller does it (run on a sample, reported as assets/s).
Each is run --repeats times, alternating; the best time of each counts.
Prints one Markdown table; `--write` appends it to bench/RESULTS.md. The suite
(bench/run.py) calls `measure_all` for its `depreciation` scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).parent))
from harness import RESULTS, RESULTS_HEADER, Row, postgres_db, sqlite_db

from progress_sse.accounting.depreciation.models import (
    Asset,
    DepreciationDocument,
    DepreciationEntry,
)
from progress_sse.accounting.depreciation.schedule import (
    AssetTerms,
    Depreciation,
    Method,
    depreciate,
)
from progress_sse.accounting.seed import seed_assets
from progress_sse.cli import admin
from progress_sse.jobs.context import JobContext
from progress_sse.plugins import discover
from progress_sse.runs.events import utc_now
from progress_sse.runs.store import NewRun
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.web.app import open_services
from progress_sse.web.security.auth import Role, create_key

YEAR, MONTH = 2026, 11
SECONDS_TARGET = 2.0
COST_TARGET_PCT = 5.0
WRITES_TARGET = 10.0


@dataclass(frozen=True)
class Figures:
    """One backend's best times; the suite and the standalone table both read these."""

    label: str
    assets: int
    on_s: float
    off_s: float
    events: int
    ticks: int
    baseline_rate: float
    writes: int = 0  # write_progress transactions during the run

    @property
    def writes_per_s(self) -> float:
        return self.writes / self.on_s

    @property
    def cost_pct(self) -> float:
        return 100 * (self.on_s - self.off_s) / self.off_s

    def markdown(self) -> str:
        rate = self.assets / self.on_s
        return (
            f"| {self.label} | {self.assets:,} | {self.on_s:.2f} s | {rate:,.0f} "
            f"| {self.off_s:.2f} s | {self.cost_pct:+.1f}% | {self.writes_per_s:.1f} "
            f"| {self.baseline_rate:,.0f} | {rate / self.baseline_rate:.0f}x |"
        )

    def row(self) -> Row:
        met = (
            self.on_s <= SECONDS_TARGET
            and self.cost_pct <= COST_TARGET_PCT
            and self.writes_per_s <= WRITES_TARGET
        )
        figures = (
            f"{self.assets:,} assets in {self.on_s:.2f} s (progress off {self.off_s:.2f} s, "
            f"tracking cost {self.cost_pct:+.1f}%); {self.writes} progress writes, "
            f"{self.writes_per_s:.1f}/s, carrying {self.events} events ({self.ticks} coalesced "
            "ticks, the rest step changes and the terminal event)"
        )
        speedup = self.assets / self.on_s / self.baseline_rate
        return Row(
            "depreciation",
            f"progress-sse ({self.label})",
            figures,
            f"≤ {SECONDS_TARGET:g} s for 100,000; cost ≤ {COST_TARGET_PCT:g}%; "
            f"≤ {WRITES_TARGET:g} writes/s",
            met,
            f"{speedup:.0f}x the ORM loop's assets/s ({self.baseline_rate:,.0f}/s)",
        )


async def run_job(settings: Settings, tracking: bool, month: int) -> dict[str, float]:
    """One posting of `month` (each run its own month: a rerun would add a reversal's work)."""
    plugins = discover(settings)
    if not tracking:
        JobContext.progress = _noop  # type: ignore[method-assign]
        JobContext.skip = _noop  # type: ignore[method-assign]
    try:
        async with open_services(settings, plugins) as svc:
            run, _ = await svc.store.create_run(NewRun(
                tenant_id="bench", kind="asset_depreciation",
                params={"year": YEAR, "month": month, "allow_earlier_unposted": True},
                lock_key=None, idempotency_key=None, created_by="bench",
            ))  # fmt: skip
            assert svc.runner is not None
            svc.runner.wake()
            for _ in range(6000):  # bounded: 10 minutes
                state = await svc.store.get_run("bench", run.id)
                if state.finished_at is not None:
                    break
                await asyncio.sleep(0.1)
            assert state.status == "completed", (state.status, state.error)
            events = await svc.store.events_after(run.id, 0, 1_000_000)
            writes = svc.store.progress_writes  # this process ran only this run
    finally:
        JobContext.progress = _ORIGINAL[0]  # type: ignore[method-assign]
        JobContext.skip = _ORIGINAL[1]  # type: ignore[method-assign]
    assert state.started_at is not None
    seconds = (state.finished_at - state.started_at).total_seconds()
    # A tick is a progress event inside one step (the coalesced kind); step changes and the
    # terminal event are never coalesced, by design.
    ticks = sum(1 for a, b in pairwise(events) if b.event is None and b.step_key == a.step_key)
    return {"seconds": seconds, "events": len(events), "ticks": ticks, "writes": writes}


_ORIGINAL = (JobContext.progress, JobContext.skip)


async def _noop(*_args: object, **_kwargs: object) -> None:
    return None


async def orm_baseline(settings: Settings, sample: int) -> float:
    """One ORM object and one flush per asset: the hand-rolled controller most teams write first."""
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with db.sessionmaker(engine).begin() as session:
            assets = (
                (
                    await session.execute(
                        sa.select(Asset)
                        .where(Asset.tenant_id == "bench")
                        .order_by(Asset.id)
                        .limit(sample)
                    )
                )
                .scalars()
                .all()
            )
            document = DepreciationDocument(
                tenant_id="bench", document_no="BASELINE", year=YEAR, month=MONTH - 1,
                kind="depreciation", status="posted", posted_at=utc_now(), total_amount=0,
            )  # fmt: skip
            session.add(document)
            await session.flush()
            start = time.perf_counter()
            for asset in assets:
                terms = AssetTerms(
                    cost=asset.cost, salvage=asset.salvage, life_months=asset.life_months,
                    method=Method(asset.method), annual_rate=asset.annual_rate,
                    acquired_on=asset.acquired_on, disposed_on=asset.disposed_on,
                )  # fmt: skip
                result = depreciate(terms, YEAR, MONTH - 1)
                if isinstance(result, Depreciation):
                    session.add(DepreciationEntry(
                        tenant_id="bench", asset_id=asset.id, year=YEAR, month=MONTH - 1,
                        amount=result.amount, accumulated=result.accumulated,
                        book_value=result.book_value, document_no="BASELINE", run_id="baseline",
                        created_at=utc_now(), document_id=document.id,
                    ))  # fmt: skip
                    await session.flush()
            elapsed = time.perf_counter() - start
            await session.rollback()
    finally:
        await engine.dispose()
    return len(assets) / elapsed


async def measure(label: str, url: str, assets: int, sample: int, repeats: int) -> Figures:
    settings = Settings(database_url=url, job_concurrency=1, poll_interval_s=0.05)
    await admin.migrate_all(settings)
    engine = db.create_engine(settings.database_url, settings)
    await create_key(db.sessionmaker(engine), "bench", Role.ADMIN)
    await engine.dispose()
    t0 = time.perf_counter()
    await seed_assets(settings, "bench", assets)
    print(f"[{label}] seeded {assets} assets in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    # Alternate on/off and keep the best of each: these machines are noisy.
    ons, offs, baselines = [], [], []
    months = iter(range(1, 13))
    for _ in range(repeats):
        ons.append(await run_job(settings, tracking=True, month=next(months)))
        offs.append(await run_job(settings, tracking=False, month=next(months)))
        baselines.append(await orm_baseline(settings, sample))
    on = min(ons, key=lambda r: r["seconds"])
    off = min(offs, key=lambda r: r["seconds"])
    # the baseline's best, to be fair to it
    return Figures(
        label,
        assets,
        on["seconds"],
        off["seconds"],
        int(on["events"]),
        int(on["ticks"]),
        max(baselines),
        int(on["writes"]),
    )


async def measure_all(pg: str | None, assets: int, sample: int, repeats: int) -> list[Figures]:
    """SQLite, then PostgreSQL if given; each on a fresh database."""
    async with sqlite_db() as url:
        figures = [await measure("SQLite", url, assets, sample, repeats)]
    if pg:
        async with postgres_db(pg) as url:
            figures.append(await measure("PostgreSQL", url, assets, sample, repeats))
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000, help="assets for the ORM baseline")
    parser.add_argument("--pg", default=os.environ.get("PROGRESS_SSE_TEST_DATABASE_URL"))
    parser.add_argument(
        "--repeats", type=int, default=3, choices=range(1, 7),
        help="runs of each, 1-6 (each posts its own month of the year); the best counts",
    )  # fmt: skip
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    rows = [
        "| database | assets | run (progress on) | assets/s | run (progress off) | tracking cost "
        "| progress writes/s | ORM loop assets/s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    figures = await measure_all(args.pg, args.assets, args.sample, args.repeats)
    rows += [f.markdown() for f in figures]
    table = "\n".join(rows)
    print(table)
    if args.write:
        header = (
            f"\n## Depreciation run, {date.today().isoformat()}\n\n"
            f"`{' '.join(['.venv/bin/python', *sys.argv])}` on {platform.node()} "
            f"({os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLAlchemy {sa.__version__})\n\n"
        )
        if not RESULTS.exists():
            RESULTS.write_text(RESULTS_HEADER)
        with RESULTS.open("a") as out:
            out.write(header + table + "\n")


if __name__ == "__main__":
    asyncio.run(main())
