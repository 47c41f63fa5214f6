"""The accounting application's demo data: an asset register, and books opened last month."""

from __future__ import annotations

from datetime import date

from progress_sse.accounting.depreciation import periods
from progress_sse.accounting.depreciation.demo_data import demo_assets
from progress_sse.accounting.depreciation.models import Asset
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.accounting.depreciation.schedule import resolve_terms
from progress_sse.plugins import DemoSeeded, DemoSeeding
from progress_sse.runs.events import utc_now
from progress_sse.runs.store import NewRun, RunStore
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.storage.sql import dialect_insert


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
    async with (
        db.sessions_for(settings.business_url, settings) as sessions,
        sessions.begin() as session,
    ):
        stmt = dialect_insert(session, Asset).on_conflict_do_nothing(
            index_elements=["tenant_id", "code"]
        )
        for start in range(0, len(rows), 5_000):
            await session.execute(stmt, rows[start : start + 5_000])
    return len(rows)


def opening_month(today: date) -> Period:
    """The month before `today`'s: the demo's books open there, so this month posts in order."""
    return Period.from_index(Period(today.year, today.month).index - 1)


async def seed_demo(seeding: DemoSeeding) -> DemoSeeded:
    """`size` demo assets, and (with a register) the books opened: a posting run of last
    month that allows the earlier months to stay unposted (as a tenant moving here from
    another system does), so this month's run posts in order at once."""
    settings, tenant = seeding.settings, seeding.tenant
    if not seeding.size:
        return DemoSeeded(facts={"assets": 0, "opening_run_id": None, "opening": None})
    await seed_assets(settings, tenant, seeding.size)
    opening = opening_month(utc_now().date())
    async with db.sessions_for(settings.database_url, settings) as sessions:
        opening_id = await open_books(RunStore(sessions), tenant, opening)
    lines = [f"tenant {tenant}: {seeding.size} demo assets"]
    if opening_id:
        lines += [f"queued the posting that opens the books in {opening}:", f"  run {opening_id}"]
    return DemoSeeded(
        facts={"assets": seeding.size, "opening_run_id": opening_id, "opening": str(opening)},
        lines=tuple(lines),
        try_these=try_these(settings, seeding, opening),
    )


async def open_books(store: RunStore, tenant: str, period: Period) -> str | None:
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


def try_these(settings: Settings, seeding: DemoSeeding, opening: Period) -> tuple[str, ...]:
    """What `serve --demo` suggests: depreciate this month and watch it, read the journal."""
    base = settings.served_url
    today = utc_now().date()
    return (
        f"It has {seeding.size} demo assets; its books open in {opening} "
        "(a posting queued now). Depreciate this month, watch it, read its summary:",
        f"  {seeding.command} runs start asset_depreciation -p year={today.year} "
        f"-p month={today.month} --watch",
        "The month's journal as CSV:",
        f"  curl -s '{base}/api/depreciation/{today.year}/{today.month}?format=csv' "
        f"-H 'Authorization: Bearer {seeding.key}'",
    )
