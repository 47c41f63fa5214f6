"""Operator actions shared by the CLI and `serve --demo` (no HTTP)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date

from progress_sse import db
from progress_sse.auth import Role, create_key, list_keys, revoke_key
from progress_sse.errors import Misconfigured
from progress_sse.events import utc_now
from progress_sse.jobs.depreciation import periods
from progress_sse.jobs.depreciation.demo_data import demo_assets
from progress_sse.jobs.depreciation.models import Asset
from progress_sse.jobs.depreciation.periods import Period
from progress_sse.jobs.depreciation.schedule import resolve_terms
from progress_sse.models import ApiKey
from progress_sse.ownership import take_ownership
from progress_sse.settings import Settings, is_sqlite
from progress_sse.sql import dialect_insert
from progress_sse.store import NewRun, RunStore
from progress_sse.webhooks.models import Webhook
from progress_sse.webhooks.outbox import Outbox
from progress_sse.webhooks.urls import check_url
from progress_sse.websession import sign_out_everywhere

log = logging.getLogger(__name__)


async def migrate_all(settings: Settings) -> list[str]:
    """Upgrade the run store and (if separate) the business database to head."""
    done = []
    for url in dict.fromkeys([settings.database_url, settings.business_url]):
        engine = db.create_engine(url, settings)
        try:
            await db.upgrade(engine)
        finally:
            await engine.dispose()
        done.append(url)
    return done


async def issue_key(settings: Settings, tenant: str, role: Role, name: str = "") -> str:
    engine = db.create_engine(settings.database_url, settings)
    try:
        return await create_key(db.sessionmaker(engine), tenant, role, name)
    finally:
        await engine.dispose()


async def keys_of(settings: Settings, tenant: str | None) -> list[ApiKey]:
    engine = db.create_engine(settings.database_url, settings)
    try:
        return await list_keys(db.sessionmaker(engine), tenant)
    finally:
        await engine.dispose()


async def revoke(settings: Settings, which: str) -> ApiKey:
    engine = db.create_engine(settings.database_url, settings)
    try:
        key = await revoke_key(db.sessionmaker(engine), which)
    finally:
        await engine.dispose()
    log.warning("audit: key %s of tenant %s revoked", key.prefix, key.tenant_id)
    return key


async def sign_out(settings: Settings, tenant: str, key_id: int | None = None) -> int:
    """End the tenant's browser sessions (or one key's); returns how many (audit-logged)."""
    engine = db.create_engine(settings.database_url, settings)
    try:
        return await sign_out_everywhere(db.sessionmaker(engine), tenant, key_id, by="cli")
    finally:
        await engine.dispose()


@asynccontextmanager
async def outbox_of(settings: Settings) -> AsyncIterator[Outbox]:
    engine = db.create_engine(settings.database_url, settings)
    try:
        yield Outbox(db.sessionmaker(engine))
    finally:
        await engine.dispose()


async def add_webhook(
    settings: Settings, tenant: str, url: str, events: list[str], description: str
) -> Webhook:
    await check_url(url, allow_private=settings.webhook_allow_private)
    async with outbox_of(settings) as outbox:
        return await outbox.add_webhook(tenant, url, events, description=description, by="cli")


async def seed_assets(settings: Settings, tenant: str, count: int) -> int:
    """Insert the demo register into the business database (existing codes are kept)."""
    rows = []
    now = utc_now()
    for asset in demo_assets(count, today=now.date()):
        life, rate = resolve_terms(
            asset["method"], asset["tax_group"], asset["life_months"], asset["annual_rate"]
        )
        rows.append(asset | {
            "tenant_id": tenant, "life_months": life, "annual_rate": rate,
            "method": asset["method"].value,
            "tax_group": asset["tax_group"].value if asset["tax_group"] else None,
            "created_at": now, "updated_at": now,
        })  # fmt: skip
    engine = db.create_engine(settings.business_url, settings)
    try:
        async with db.sessionmaker(engine).begin() as session:
            stmt = dialect_insert(session, Asset).on_conflict_do_nothing(
                index_elements=["tenant_id", "code"]
            )
            for start in range(0, len(rows), 5_000):
                await session.execute(stmt, rows[start : start + 5_000])
    finally:
        await engine.dispose()
    return len(rows)


@dataclass(frozen=True, slots=True)
class DemoSeed:
    key: str
    run_id: str | None  # the short demo run, when this seed created it
    opening_run_id: str | None  # the posting that opens the books, when created now
    opening: Period | None  # the month it posts


def opening_month(today: date) -> Period:
    """The month before `today`'s: the demo's books open there, so this month posts in order."""
    return Period.from_index(Period(today.year, today.month).index - 1)


async def seed_demo(settings: Settings, tenant: str, assets: int = 0) -> DemoSeed:
    """An admin key for `tenant`, an asset register and one short demo run.

    With a register, the books are opened too: a posting run of last month
    that allows the earlier months to stay unposted (as a tenant moving here
    from another system does), so this month's run posts in order at once.
    """
    key = await issue_key(settings, tenant, Role.ADMIN, name="demo")
    if assets:
        await seed_assets(settings, tenant, assets)
    opening = opening_month(utc_now().date()) if assets else None
    engine = db.create_engine(settings.database_url, settings)
    try:
        store = RunStore(db.sessionmaker(engine))
        demo_run, created = await store.create_run(
            NewRun(
                tenant_id=tenant,
                kind="demo",
                params={"items": 20, "delay_ms": 50, "fail_at": None, "hold_ms": 0, "lock": "seed"},
                lock_key=None,
                idempotency_key=None,
                created_by="demo-seed",
            )
        )
        opening_id = await _open_books(store, tenant, opening) if opening else None
    finally:
        await engine.dispose()
    return DemoSeed(key, demo_run.id if created else None, opening_id, opening)


async def _open_books(store: RunStore, tenant: str, period: Period) -> str | None:
    """Queue the opening posting once per tenant (an idempotency key makes a re-seed a no-op)."""
    params = {
        "year": period.year, "month": period.month, "dry_run": False,
        "allow_earlier_unposted": True,
    }  # fmt: skip
    new = NewRun(
        tenant_id=tenant, kind="asset_depreciation", params=params,
        lock_key=periods.lock_key_of(period), idempotency_key="demo-seed:open-books",
        created_by="demo-seed",
    )  # fmt: skip
    run, created = await store.create_run(new)
    return run.id if created else None


async def preflight(settings: Settings) -> None:
    """What `serve` checks before uvicorn starts, so a refusal is one clear line, not a
    start-up traceback: the pools fit the concurrency and PostgreSQL's limit, and on
    SQLite no other process runs this database's jobs already."""
    if (problem := settings.pool_problem()) is not None:
        raise Misconfigured(problem)
    engine = db.create_engine(settings.database_url, settings)
    try:
        await db.check_connection_budget(engine, settings)
    finally:
        await engine.dispose()
    if settings.run_jobs and is_sqlite(settings.database_url):
        owner = await take_ownership(settings, "preflight")
        if owner is not None:
            await owner.release()  # free: this process takes it again as it starts


async def set_period_lock(settings: Settings, tenant: str, period: Period, *, locked: bool) -> None:
    """Lock or unlock a month; a lock is refused while a posting run of it is active."""
    if locked:
        engine = db.create_engine(settings.database_url, settings)
        try:
            await periods.refuse_while_posting(RunStore(db.sessionmaker(engine)), tenant, period)
        finally:
            await engine.dispose()
    engine = db.create_engine(settings.business_url, settings)
    try:
        sessions = db.sessionmaker(engine)
        if locked:
            await periods.lock(sessions, tenant, period, by="cli")
        else:
            await periods.unlock(sessions, tenant, period)
    finally:
        await engine.dispose()


async def run_worker(settings: Settings) -> None:
    """Run jobs until SIGTERM or SIGINT, then stop claiming and let running jobs finish."""
    from progress_sse.app import open_services
    from progress_sse.jobs import default_registry

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_services(settings.model_copy(update={"run_jobs": True}), default_registry()):
        log.info("worker started (%d concurrent runs)", settings.job_concurrency)
        await stop.wait()
        log.info("worker stopping: no new claims; running jobs get a grace period")
