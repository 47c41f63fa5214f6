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
    hand-written controller does it (run on a sample, reported as assets/s);
  * the raw-driver floor: after each progress-on run, the entries it wrote
    (read back as the table stores them) inserted again with the driver
    alone, outside SQLAlchemy, in one transaction, into an empty copy of
    `depreciation_entries` with its columns, defaults, indexes and checks:
    sqlite3 `executemany` on SQLite, asyncpg `copy_records_to_table` on
    PostgreSQL. The copy has no foreign keys (what `CREATE TABLE ... (LIKE
    ... INCLUDING ALL)` gives); the same insert into a copy that has them,
    whose per-row checks the run's table makes too, is shown beside it.
A warm-up posting of the December before opens the books first (not counted).
Each is run --repeats times, alternating; the best time of each counts. The
target is the run within RAW_TARGET x the raw insert (without foreign keys)
measured in the same sitting, with a tracking cost within COST_TARGET_PCT.
Prints one Markdown table; `--write` appends it to bench/RESULTS.md. The suite
(bench/run.py) calls `measure_all` for its `depreciation` scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
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
RAW_TARGET = 2.0  # the run within 2x a raw-driver bulk insert of its own entries
RAW_TABLE = "bench_raw_entries"


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
    entries: int = 0  # rows the run wrote (and the raw insert wrote again)
    raw_s: float = 0.0  # the raw-driver insert into an empty copy without foreign keys
    raw_fk_s: float = 0.0  # the same into a copy with the table's foreign keys

    @property
    def writes_per_s(self) -> float:
        return self.writes / self.on_s

    @property
    def cost_pct(self) -> float:
        return 100 * (self.on_s - self.off_s) / self.off_s

    @property
    def raw_ratio(self) -> float:
        """The run (progress on) over the raw-driver insert of its entries (the target's)."""
        return self.on_s / self.raw_s

    @property
    def raw_fk_ratio(self) -> float:
        """The same over the insert into a copy with foreign keys, as the run's table has."""
        return self.on_s / self.raw_fk_s

    @property
    def met(self) -> bool:
        return (
            self.raw_ratio <= RAW_TARGET
            and self.cost_pct <= COST_TARGET_PCT
            and self.writes_per_s <= WRITES_TARGET
        )

    def markdown(self) -> str:
        rate = self.assets / self.on_s
        return (
            f"| {self.label} | {self.assets:,} | {self.on_s:.2f} s | {rate:,.0f} "
            f"| {self.off_s:.2f} s | {self.cost_pct:+.1f}% | {self.writes_per_s:.1f} "
            f"| {self.entries:,} in {self.raw_s:.2f} s ({self.raw_fk_s:.2f} s) "
            f"| {self.raw_ratio:.2f}x ({self.raw_fk_ratio:.2f}x) "
            f"| {'yes' if self.met else 'no'} "
            f"| {self.baseline_rate:,.0f} | {rate / self.baseline_rate:.0f}x |"
        )

    def row(self) -> Row:
        figures = (
            f"{self.assets:,} assets in {self.on_s:.2f} s (progress off {self.off_s:.2f} s, "
            f"tracking cost {self.cost_pct:+.1f}%); {self.writes} progress writes, "
            f"{self.writes_per_s:.1f}/s, carrying {self.events} events ({self.ticks} coalesced "
            "ticks, the rest step changes and the terminal event); its "
            f"{self.entries:,} entries by the raw driver ({RAW_DRIVER[self.label]}) in "
            f"{self.raw_s:.2f} s ({self.raw_fk_s:.2f} s into a copy with the foreign keys)"
        )
        speedup = self.assets / self.on_s / self.baseline_rate
        return Row(
            "depreciation",
            f"progress-sse ({self.label})",
            figures,
            f"≤ {RAW_TARGET:g}x the raw-driver insert of its entries; cost ≤ "
            f"{COST_TARGET_PCT:g}%; ≤ {WRITES_TARGET:g} writes/s",
            self.met,
            f"{self.raw_ratio:.2f}x the raw-driver insert ({self.raw_fk_ratio:.2f}x with "
            f"foreign keys); {speedup:.0f}x the ORM loop's assets/s "
            f"({self.baseline_rate:,.0f}/s)",
        )


RAW_DRIVER = {
    "SQLite": "sqlite3 executemany",
    "PostgreSQL": "asyncpg copy_records_to_table",
}


async def run_job(
    settings: Settings, tracking: bool, month: int, year: int = YEAR
) -> dict[str, Any]:
    """One posting of `month` (each run its own month: a rerun would add a reversal's work)."""
    plugins = discover(settings)
    if not tracking:
        JobContext.progress = _noop  # type: ignore[method-assign]
        JobContext.skip = _noop  # type: ignore[method-assign]
    try:
        async with open_services(settings, plugins) as svc:
            run, _ = await svc.store.create_run(NewRun(
                tenant_id="bench", kind="asset_depreciation",
                params={"year": year, "month": month, "allow_earlier_unposted": True},
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
    return {
        "seconds": seconds, "events": len(events), "ticks": ticks, "writes": writes,
        "run_id": run.id,
    }  # fmt: skip


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
                tenant_id="bench", document_no="BASELINE", year=YEAR - 2, month=MONTH - 1,
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


ENTRY_COLUMNS = (
    "tenant_id", "document_id", "asset_id", "year", "month", "amount", "accumulated",
    "book_value", "document_no", "run_id", "created_at",
)  # fmt: skip


async def raw_insert(business_url: str, run_id: str) -> tuple[int, float, float]:
    """The entries `run_id` wrote, inserted again by the driver alone, outside SQLAlchemy.

    They are read back as the table stores them (SQLite: integer cents and
    text times; PostgreSQL: NUMERIC as Decimal, timestamptz) and inserted in
    one transaction into an empty copy of `depreciation_entries` with its
    columns, defaults, indexes, constraints and foreign keys (the database
    checks each row's asset and document, as it does for the run), then into
    one without the foreign keys (SQLite: `PRAGMA foreign_keys=OFF`). Returns
    (rows, seconds with foreign keys, seconds without), each timed from
    BEGIN to after COMMIT.
    """
    url = sa.make_url(business_url)
    if url.get_backend_name() == "sqlite":
        assert url.database is not None
        return _raw_sqlite(url.database, run_id)
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return await _raw_postgres(plain, run_id)


def _raw_sqlite(path: str, run_id: str) -> tuple[int, float, float]:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # As the service's own connections (storage/db.py): WAL is the file's already.
        connection.execute("PRAGMA synchronous=NORMAL")
        columns = ", ".join(ENTRY_COLUMNS)
        rows = connection.execute(
            f"SELECT {columns} FROM depreciation_entries WHERE run_id = ?", (run_id,)
        ).fetchall()
        ddl = [
            sql.replace("depreciation_entries", RAW_TABLE)  # the table, its indexes
            for (sql,) in connection.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'depreciation_entries' "
                "AND sql IS NOT NULL ORDER BY type DESC"  # the table before its indexes
            )
        ]
        marks = ", ".join("?" * len(ENTRY_COLUMNS))
        insert = f"INSERT INTO {RAW_TABLE} ({columns}) VALUES ({marks})"
        seconds = []
        for foreign_keys in ("ON", "OFF"):
            connection.execute(f"PRAGMA foreign_keys={foreign_keys}")
            for sql in ddl:
                connection.execute(sql)
            start = time.perf_counter()
            connection.execute("BEGIN")
            connection.executemany(insert, rows)
            connection.execute("COMMIT")
            seconds.append(time.perf_counter() - start)
            connection.execute(f"DROP TABLE {RAW_TABLE}")
        return len(rows), seconds[0], seconds[1]
    finally:
        connection.close()


async def _raw_postgres(url: str, run_id: str) -> tuple[int, float, float]:
    connection = await asyncpg.connect(url)
    try:
        columns = ", ".join(ENTRY_COLUMNS)
        records = await connection.fetch(
            f"SELECT {columns} FROM depreciation_entries WHERE run_id = $1", run_id
        )
        rows = [tuple(record) for record in records]
        # LIKE ... INCLUDING ALL copies all but the foreign keys: add them as they are.
        foreign_keys = [
            definition
            for (definition,) in await connection.fetch(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = 'depreciation_entries'::regclass AND contype = 'f'"
            )
        ]
        seconds = []
        for with_keys in (True, False):
            await connection.execute(
                f"CREATE TABLE {RAW_TABLE} (LIKE depreciation_entries INCLUDING ALL)"
            )
            for definition in foreign_keys if with_keys else ():
                await connection.execute(f"ALTER TABLE {RAW_TABLE} ADD {definition}")
            start = time.perf_counter()
            async with connection.transaction():
                await connection.copy_records_to_table(
                    RAW_TABLE, records=rows, columns=list(ENTRY_COLUMNS)
                )
            seconds.append(time.perf_counter() - start)
            await connection.execute(f"DROP TABLE {RAW_TABLE}")
        return len(rows), seconds[0], seconds[1]
    finally:
        await connection.close()


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
    ons, offs, baselines, raws = [], [], [], []
    # The books' opening posting (the first, which sweeps the whole register for earlier
    # months left unposted) and the process's first run (imports, caches) are not a month
    # end's work, and counted would weigh on progress-on runs only: a warm-up takes them.
    await run_job(settings, tracking=True, month=12, year=YEAR - 1)
    months = iter(range(1, 13))
    for _ in range(repeats):
        ons.append(await run_job(settings, tracking=True, month=next(months)))
        raws.append(await raw_insert(settings.business_url, ons[-1]["run_id"]))
        offs.append(await run_job(settings, tracking=False, month=next(months)))
        baselines.append(await orm_baseline(settings, sample))
    on = min(ons, key=lambda r: r["seconds"])
    off = min(offs, key=lambda r: r["seconds"])
    print(
        f"[{label}] runs {[round(r['seconds'], 3) for r in ons]}, off "
        f"{[round(r['seconds'], 3) for r in offs]}, raw {[round(r[2], 3) for r in raws]}, "
        f"raw with foreign keys {[round(r[1], 3) for r in raws]}",
        file=sys.stderr,
    )
    # the baselines' best, to be fair to them
    return Figures(
        label,
        assets,
        on["seconds"],
        off["seconds"],
        int(on["events"]),
        int(on["ticks"]),
        max(baselines),
        int(on["writes"]),
        # Each on-run posts its own month, whose entries differ in number: the raw insert's
        # best time per entry, for the best run's entries.
        entries=raws[ons.index(on)][0],
        raw_s=raws[ons.index(on)][0] * min(r[2] / r[0] for r in raws),
        raw_fk_s=raws[ons.index(on)][0] * min(r[1] / r[0] for r in raws),
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
        "| progress writes/s | raw-driver insert of its entries (into a copy with foreign keys) "
        f"| run / raw (with) | ≤ {RAW_TARGET:g}x raw, cost ≤ {COST_TARGET_PCT:g}% "
        "| ORM loop assets/s "
        "| speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
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
