"""Operator actions shared by the CLI and `serve --demo` (no HTTP)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from progress_sse.errors import Misconfigured
from progress_sse.jobs.ownership import take_ownership
from progress_sse.plugins import DemoSeeded, DemoSeeding, discover
from progress_sse.runs.models import ApiKey
from progress_sse.runs.store import NewRun, RunStore
from progress_sse.settings import Settings, is_sqlite
from progress_sse.storage import db
from progress_sse.web.security.auth import Role, create_key, list_keys, revoke_key
from progress_sse.web.security.websession import sign_out_everywhere
from progress_sse.webhooks.models import Webhook
from progress_sse.webhooks.outbox import Outbox
from progress_sse.webhooks.urls import check_url

log = logging.getLogger(__name__)


async def migrate_all(settings: Settings) -> list[str]:
    """Upgrade the run store and (if separate) the business database to every head:
    the engine's and each plugin's."""
    folders = discover(settings).migration_folders()
    done = []
    for url in dict.fromkeys([settings.database_url, settings.business_url]):
        engine = db.create_engine(url, settings)
        try:
            await db.upgrade(engine, folders)
        finally:
            await engine.dispose()
        done.append(url)
    return done


async def issue_key(settings: Settings, tenant: str, role: Role, name: str = "") -> str:
    async with db.sessions_for(settings.database_url, settings) as sessions:
        return await create_key(sessions, tenant, role, name)


async def keys_of(settings: Settings, tenant: str | None) -> list[ApiKey]:
    async with db.sessions_for(settings.database_url, settings) as sessions:
        return await list_keys(sessions, tenant)


async def revoke(settings: Settings, which: str) -> ApiKey:
    async with db.sessions_for(settings.database_url, settings) as sessions:
        key = await revoke_key(sessions, which)
    log.warning("audit: key %s of tenant %s revoked", key.prefix, key.tenant_id)
    return key


async def sign_out(settings: Settings, tenant: str, key_id: int | None = None) -> int:
    """End the tenant's browser sessions (or one key's); returns how many (audit-logged)."""
    async with db.sessions_for(settings.database_url, settings) as sessions:
        return await sign_out_everywhere(sessions, tenant, key_id, by="cli")


@asynccontextmanager
async def outbox_of(settings: Settings) -> AsyncIterator[Outbox]:
    async with db.sessions_for(settings.database_url, settings) as sessions:
        yield Outbox(sessions)


async def add_webhook(
    settings: Settings, tenant: str, url: str, events: list[str], description: str
) -> Webhook:
    await check_url(url, allow_private=settings.webhook_allow_private)
    async with outbox_of(settings) as outbox:
        return await outbox.add_webhook(tenant, url, events, description=description, by="cli")


@dataclass(frozen=True, slots=True)
class DemoSeed:
    key: str
    run_id: str | None  # the short demo run, when this seed created it
    plugins: dict[str, DemoSeeded]  # what each plugin's seeder made


async def seed_demo(
    settings: Settings, tenant: str, size: int = 0, command: str = "progress-sse"
) -> DemoSeed:
    """An admin key for `tenant`, one short demo run, and each plugin's demo data
    (`size` says how much: the accounting application's assets)."""
    key = await issue_key(settings, tenant, Role.ADMIN, name="demo")
    async with db.sessions_for(settings.database_url, settings) as sessions:
        demo_run, created = await RunStore(sessions).create_run(
            NewRun(
                tenant_id=tenant,
                kind="demo",
                params={"items": 20, "delay_ms": 50, "fail_at": None, "hold_ms": 0, "lock": "seed"},
                lock_key=None,
                idempotency_key=None,
                created_by="demo-seed",
            )
        )
    made = {}
    for name, seeder in discover(settings).demo_seeders():
        made[name] = await seeder(DemoSeeding(settings, tenant, key, size, command))
    return DemoSeed(key, demo_run.id if created else None, made)


async def preflight(settings: Settings, *, seeding: bool = False) -> None:
    """What `serve` checks before uvicorn starts, so a refusal is one clear line, not a
    start-up traceback: the pools fit the concurrency and PostgreSQL's limit, the
    databases were migrated (to this version, when demo data is about to be written), and
    on SQLite no other process runs this database's jobs already."""
    if (problem := settings.pool_problem()) is not None:
        raise Misconfigured(problem)
    folders = discover(settings).migration_folders()  # a plugin that cannot load: one line
    engine = db.create_engine(settings.database_url, settings)
    try:
        await db.check_connection_budget(engine, settings)
    finally:
        await engine.dispose()
    await require_schemas(settings, folders, seeding=seeding)
    if settings.run_jobs and is_sqlite(settings.database_url):
        owner = await take_ownership(settings, "preflight")
        if owner is not None:
            await owner.release()  # free: this process takes it again as it starts


async def run_worker(settings: Settings) -> None:
    """Run jobs until SIGTERM or SIGINT, then stop claiming and let running jobs finish."""
    from progress_sse.web.app import open_services

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_services(settings.model_copy(update={"run_jobs": True}), discover(settings)):
        log.info("worker started (%d concurrent runs)", settings.job_concurrency)
        await stop.wait()
        log.info("worker stopping: no new claims; running jobs get a grace period")


async def require_schemas(
    settings: Settings, folders: list[Path] | None = None, *, seeding: bool = False
) -> None:
    """Refuse a database never migrated (or, before demo data, one behind this version)."""
    if folders is None:
        folders = discover(settings).migration_folders()
    for url in dict.fromkeys([settings.database_url, settings.business_url]):
        await _require_schema(url, settings, folders, seeding=seeding)


async def _require_schema(
    url: str, settings: Settings, folders: list[Path], *, seeding: bool
) -> None:
    engine = db.create_engine(url, settings)
    try:
        state = await db.schema_state(engine, folders)
    finally:
        await engine.dispose()
    where = url.split("@")[-1]  # no password in a message
    fix = "run `progress-sse db upgrade` first (or `progress-sse serve --migrate`)"
    if state == "missing":
        raise Misconfigured(f"the database {where} has no progress-sse tables yet: {fix}")
    if state == "behind" and seeding:
        raise Misconfigured(f"the database {where} is older than this version: {fix}")
    if state == "behind":  # a rolling deploy may migrate after this process starts
        log.warning("the database %s is older than this version; /readyz answers 503 "
                    "until `progress-sse db upgrade` runs", where)  # fmt: skip
