"""Operator actions shared by the CLI and `serve --demo` (no HTTP)."""

from __future__ import annotations

from progress_sse import db
from progress_sse.auth import Role, create_key
from progress_sse.settings import Settings
from progress_sse.store import NewRun, RunStore


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


async def seed_demo(settings: Settings, tenant: str) -> tuple[str, str | None]:
    """An admin key for `tenant` and one short demo run, so lists are not empty."""
    key = await issue_key(settings, tenant, Role.ADMIN, name="demo")
    engine = db.create_engine(settings.database_url, settings)
    try:
        store = RunStore(db.sessionmaker(engine))
        run, created = await store.create_run(
            NewRun(
                tenant_id=tenant,
                kind="demo",
                params={"items": 20, "delay_ms": 50, "fail_at": None, "hold_ms": 0, "lock": "seed"},
                lock_key=None,
                idempotency_key=None,
                created_by="demo-seed",
            )
        )
    finally:
        await engine.dispose()
    return key, run.id if created else None
