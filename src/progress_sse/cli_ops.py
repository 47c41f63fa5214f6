"""The operator commands of `progress-sse` (Typer): serve, worker, db, keys, demo, periods,
webhooks, notifications, cleanup; `runs` comes from `cli_runs`."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from sqlalchemy.exc import SQLAlchemyError

from progress_sse import admin, db, logs
from progress_sse.app import create_app
from progress_sse.auth import Role
from progress_sse.cli_runs import Json, runs_app
from progress_sse.errors import ProgressSSEError
from progress_sse.jobs.depreciation.periods import Period
from progress_sse.maintenance import delete_finished
from progress_sse.serving import uvicorn_options
from progress_sse.settings import Settings, is_sqlite
from progress_sse.store import RunStore
from progress_sse.terminal import emit_json, table
from progress_sse.webhooks.models import failed_json
from progress_sse.webhooks.payload import EVENTS

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="progress-sse: long jobs with durable progress over SSE. `runs …` works through a "
    "server's API (PROGRESS_SSE_URL, PROGRESS_SSE_API_KEY); the other commands work on the "
    "database (PROGRESS_SSE_DATABASE_URL).",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
demo_app = typer.Typer(no_args_is_help=True, help="Demo data.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
periods_app = typer.Typer(no_args_is_help=True, help="Lock and unlock accounting periods.")
app.add_typer(runs_app, name="runs")
app.add_typer(demo_app, name="demo")
app.add_typer(periods_app, name="periods")
webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints (run outcomes).")
notifications_app = typer.Typer(no_args_is_help=True, help="Failed webhook notifications.")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(notifications_app, name="notifications")


def fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine; errors become one clear line and exit code 1."""
    try:
        return asyncio.run(coro)
    except ProgressSSEError as exc:
        raise fail(exc.message) from None
    except (SQLAlchemyError, OSError) as exc:
        raise fail(
            f"database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        ) from None


@db_app.command("upgrade")
def db_upgrade(as_json: Json = False) -> None:
    """Migrate the run store and the business database to the newest schema."""
    done = [url.split("@")[-1] for url in run_async(admin.migrate_all(Settings()))]
    if as_json:
        emit_json({"migrated": done})
    for url in [] if as_json else done:
        typer.echo(f"migrated {url}")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="tenant id (created if new)")],
    role: Annotated[Role, typer.Option(help="member or admin")] = Role.MEMBER,
    name: Annotated[str, typer.Option(help="a label for the key")] = "",
    as_json: Json = False,
) -> None:
    """Create an API key; it is printed once, on the last line."""
    key = run_async(admin.issue_key(Settings(), tenant, role, name))
    if as_json:
        emit_json({"tenant": tenant, "role": role.value, "name": name, "key": key})
        return
    typer.echo(f"created {role.value} key for tenant {tenant} (store it now: it is not kept)")
    typer.echo(key)


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="only this tenant's keys")] = None,
    as_json: Json = False,
) -> None:
    """Every key: id, prefix, tenant, role, name, created, last used, revoked."""
    keys = run_async(admin.keys_of(Settings(), tenant))
    columns = ("id", "prefix", "tenant", "role", "name", "created", "last_used", "revoked")
    rows = [
        [k.id, k.prefix, k.tenant_id, k.role, k.name,
         _when(k.created_at), _when(k.last_used_at), _when(k.revoked_at)]
        for k in keys
    ]  # fmt: skip
    if as_json:
        emit_json([dict(zip(columns, row, strict=True)) for row in rows])
    else:
        table("API keys", columns, rows)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="the key's id or printed prefix (pss_xxxxxx)")],
) -> None:
    """Revoke a key at once: its requests and browser sessions get 401 from now on."""
    revoked = run_async(admin.revoke(Settings(), key))
    typer.echo(f"revoked key {revoked.id} ({revoked.prefix}) of tenant {revoked.tenant_id}")


@keys_app.command("sign-out")
def keys_sign_out(
    tenant: Annotated[str, typer.Option(help="the tenant whose browser sessions end")],
    key: Annotated[int | None, typer.Option(help="only this key's sessions (its id)")] = None,
    as_json: Json = False,
) -> None:
    """Sign out everywhere: the tenant's browser sessions (or one key's) get 401 from now on."""
    revoked = run_async(admin.sign_out(Settings(), tenant, key))
    if as_json:
        emit_json({"tenant": tenant, "key_id": key, "revoked": revoked})
        return
    typer.echo(f"signed out {revoked} browser session(s) of tenant {tenant}")


def _when(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if moment else None


@webhooks_app.command("add")
def webhooks_add(
    tenant: Annotated[str, typer.Option(help="tenant id")],
    url: Annotated[str, typer.Option(help="http(s) URL that receives the POSTs")],
    event: Annotated[
        list[str] | None, typer.Option(help="complete, error, cancelled, stale (repeat; all)")
    ] = None,
    description: Annotated[str, typer.Option(help="a label")] = "",
    as_json: Json = False,
) -> None:
    """Add an endpoint; its signing secret is printed once, on the last line."""
    events = event or list(EVENTS)
    hook = run_async(admin.add_webhook(Settings(), tenant, url, events, description))
    if as_json:
        emit_json({"id": hook.id, "tenant": tenant, "url": hook.url, "events": hook.events,
                   "secret": hook.secret})  # fmt: skip
        return
    typer.echo(f"webhook {hook.id} for tenant {tenant}: {hook.url} ({', '.join(hook.events)})")
    typer.echo(hook.secret)


@webhooks_app.command("list")
def webhooks_list(
    tenant: Annotated[str | None, typer.Option(help="one tenant")] = None, as_json: Json = False
) -> None:
    """Every endpoint: id, tenant, events, URL (never the secret)."""

    async def listed() -> list[Any]:
        async with admin.outbox_of(Settings()) as outbox:
            return await outbox.webhooks(tenant)

    rows = [[h.id, h.tenant_id, ",".join(h.events), h.url] for h in run_async(listed())]
    if as_json:
        emit_json([{"id": i, "tenant": t, "events": e.split(","), "url": u} for i, t, e, u in rows])
    else:
        table("Webhooks", ("id", "tenant", "events", "url"), rows)


@webhooks_app.command("remove")
def webhooks_remove(webhook_id: int) -> None:
    """Remove an endpoint and its undelivered notifications."""

    async def remove() -> None:
        async with admin.outbox_of(Settings()) as outbox:
            await outbox.remove_webhook(None, webhook_id)

    run_async(remove())
    typer.echo(f"removed webhook {webhook_id}")


@notifications_app.command("failed")
def notifications_failed(
    tenant: Annotated[str | None, typer.Option(help="one tenant")] = None,
    retried: Annotated[
        bool | None, typer.Option("--retried/--not-retried", help="filter (default: all)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
) -> None:
    """The dead letters as JSON lines (newest first), then the total."""

    async def listed() -> tuple[list[Any], int]:
        async with admin.outbox_of(Settings()) as outbox:
            return await outbox.failed(tenant, retried=retried, limit=limit)

    rows, total = run_async(listed())
    for row in rows:
        typer.echo(json.dumps(failed_json(row)))
    typer.echo(f"total: {total}")


@notifications_app.command("retry")
def notifications_retry(failed_id: int) -> None:
    """Queue a failed notification again (same delivery id); a worker or serve sends it."""

    async def retry() -> Any:
        async with admin.outbox_of(Settings()) as outbox:
            return await outbox.retry(None, failed_id, "cli")

    note = run_async(retry())
    typer.echo(f"queued delivery {note.id} again")


@demo_app.command("seed")
def demo_seed(
    tenant: Annotated[str, typer.Option(help="tenant id")] = "demo",
    assets: Annotated[int, typer.Option(min=0, max=1_000_000, help="assets to create")] = 500,
    as_json: Json = False,
) -> None:
    """Create the demo tenant, an asset register, an admin key (last line) and a demo run.

    With assets, it also queues the posting of last month that opens the books.
    """
    settings = Settings()
    run_async(admin.migrate_all(settings))
    seed = run_async(admin.seed_demo(settings, tenant, assets))
    if as_json:
        emit_json({
            "tenant": tenant, "assets": assets, "run_id": seed.run_id,
            "opening_run_id": seed.opening_run_id,
            "opening": str(seed.opening) if seed.opening else None, "key": seed.key,
        })  # fmt: skip
        return
    typer.echo(f"tenant {tenant}: {assets} demo assets")
    if seed.run_id:
        typer.echo(f"queued demo run {seed.run_id}")
    if seed.opening_run_id:
        typer.echo(f"queued the posting that opens the books in {seed.opening}:")
        typer.echo(f"  run {seed.opening_run_id}")
    typer.echo(seed.key)


Year = Annotated[int, typer.Option(min=2000, max=2100, help="year")]
Month = Annotated[int, typer.Option(min=1, max=12, help="month 1-12")]
Tenant = Annotated[str, typer.Option(help="tenant id")]


@periods_app.command("lock")
def periods_lock(tenant: Tenant, year: Year, month: Month, as_json: Json = False) -> None:
    """Close a month: depreciation runs for it are refused (409 period_locked)."""
    set_lock(tenant, Period(year, month), locked=True, as_json=as_json)


@periods_app.command("unlock")
def periods_unlock(tenant: Tenant, year: Year, month: Month, as_json: Json = False) -> None:
    """Open a month again."""
    set_lock(tenant, Period(year, month), locked=False, as_json=as_json)


def set_lock(tenant: str, period: Period, *, locked: bool, as_json: bool) -> None:
    run_async(admin.set_period_lock(Settings(), tenant, period, locked=locked))
    if as_json:
        emit_json({"tenant": tenant, "period": str(period), "locked": locked})
    else:
        typer.echo(f"{'locked' if locked else 'unlocked'} {period} for tenant {tenant}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address")] = None,
    port: Annotated[int | None, typer.Option(help="port")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="seed a demo tenant and print its key")
    ] = False,
    no_jobs: Annotated[
        bool, typer.Option("--no-jobs", help="serve HTTP only; run no jobs")
    ] = False,
    migrate: Annotated[
        bool | None, typer.Option(help="migrate first (default: on for SQLite)")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="uvicorn worker processes")] = 1,
) -> None:
    """Serve the API and the event streams (and run jobs, unless --no-jobs)."""
    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if no_jobs:
        overrides["run_jobs"] = False
    settings = Settings(**overrides)
    if workers > 1 and is_sqlite(settings.database_url):
        raise fail(
            "several worker processes need PostgreSQL (set PROGRESS_SSE_DATABASE_URL); "
            "SQLite serves one process"
        )
    if migrate if migrate is not None else is_sqlite(settings.database_url):
        run_async(admin.migrate_all(settings))
    run_async(admin.preflight(settings))
    if demo:
        _print_demo(settings)
    setup_logging(settings)
    if workers > 1:  # each process builds its app from the environment
        os.environ["PROGRESS_SSE_RUN_JOBS"] = str(settings.run_jobs).lower()
        uvicorn.run(
            "progress_sse.app:create_worker_app", factory=True, workers=workers,
            **uvicorn_options(settings),
        )  # fmt: skip
        return
    uvicorn.run(create_app(settings), **uvicorn_options(settings))


DEMO_ASSETS = 2_000


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `45m` or `90s` (a plain number is days)."""
    units = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
    number, unit = (text[:-1], text[-1]) if text[-1:] in units else (text, "d")
    if not number.isascii() or not number.isdigit() or int(number) < 1:
        raise typer.BadParameter(f"{text!r} is not an age like 30d, 12h, 45m or 90s")
    return timedelta(**{units[unit]: int(number)})


@app.command()
def cleanup(
    older_than: Annotated[str, typer.Option(help="age of finished runs to delete: 30d, 12h")],
    tenant: Annotated[str | None, typer.Option(help="one tenant (default: all)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Delete finished runs (with their steps and events) that ended before then."""
    age = parse_age(older_than)
    settings = Settings()

    async def delete() -> int:
        engine = db.create_engine(settings.database_url, settings)
        try:
            store = RunStore(db.sessionmaker(engine))
            return await delete_finished(store, older_than=age, tenant_id=tenant, by="cli")
        finally:
            await engine.dispose()

    deleted = run_async(delete())
    if as_json:
        typer.echo(json.dumps({"deleted_runs": deleted, "older_than_s": age.total_seconds()}))
    else:
        typer.echo(f"deleted {deleted} finished run(s) older than {older_than}")


@app.command()
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=1000, help="concurrent runs (default: setting)")
    ] = None,
) -> None:
    """Run jobs without serving HTTP (several workers need PostgreSQL)."""
    settings = Settings()
    if concurrency is not None:
        settings = settings.model_copy(update={"job_concurrency": concurrency})
    setup_logging(settings)
    run_async(admin.run_worker(settings))


def setup_logging(settings: Settings) -> None:
    logs.setup_logging(settings.log_level, settings.log_format)


def _print_demo(settings: Settings) -> None:
    seed = run_async(admin.seed_demo(settings, "demo", DEMO_ASSETS))
    key, run_id = seed.key, seed.run_id
    base = f"http://{settings.host}:{settings.port}"
    today = datetime.now(UTC).date()
    body = json.dumps(
        {"kind": "asset_depreciation", "params": {"year": today.year, "month": today.month}}
    )
    typer.echo(
        "\n".join(
            [
                "",
                "Demo tenant 'demo' is ready. Its admin API key (shown once):",
                f"  {key}",
                "",
                f"It has {DEMO_ASSETS} demo assets; its books open in {seed.opening} "
                "(a posting queued now). Depreciate this month and watch it:",
                f"  curl -s -X POST {base}/api/runs -H 'Authorization: Bearer {key}' "
                f"-H 'Content-Type: application/json' -d '{body}'",
                f"  curl -N {base}/api/runs/<id>/events -H 'Authorization: Bearer {key}'",
                f"  curl -s {base}/api/depreciation/{today.year}/{today.month}?format=csv "
                f"-H 'Authorization: Bearer {key}'",
                f"A finished demo run is already there: {base}/api/runs/{run_id}" if run_id else "",
                "",
            ]
        ),
        file=sys.stderr,
    )
