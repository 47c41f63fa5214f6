"""The operator commands of `progress-sse` (Typer): serve, worker, db, keys, demo,
webhooks, notifications, cleanup; `runs` and `batches` come from `cli/runs.py` and
`cli/batches.py`, `mail` from `cli/mail.py`, and each plugin may add its own
(`cli/main.py` merges them)."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn

from progress_sse.cli import admin
from progress_sse.cli.batches import batches_app
from progress_sse.cli.common import fail, run_async
from progress_sse.cli.mail import mail_app
from progress_sse.cli.remote import Json
from progress_sse.cli.runs import runs_app
from progress_sse.cli.terminal import emit_json, table
from progress_sse.jobs.maintenance import delete_finished
from progress_sse.ops import logs
from progress_sse.runs.store import RunStore
from progress_sse.settings import Settings, is_sqlite
from progress_sse.storage import db
from progress_sse.web.app import create_app
from progress_sse.web.security.auth import Role
from progress_sse.web.serving import port_problem, uvicorn_options
from progress_sse.webhooks.models import CHANNELS, failed_json
from progress_sse.webhooks.payload import EVENTS

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,  # the whole tree, `runs` and `batches` included, from the top
    help="progress-sse: long jobs with durable progress over SSE. `runs …` and `batches …` "
    "work through a server's API (PROGRESS_SSE_URL, PROGRESS_SSE_API_KEY); the other "
    "commands work on the database (PROGRESS_SSE_DATABASE_URL).",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
keys_app = typer.Typer(no_args_is_help=True, help="API keys.")
demo_app = typer.Typer(no_args_is_help=True, help="Demo data.")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(runs_app, name="runs")
app.add_typer(batches_app, name="batches")
app.add_typer(demo_app, name="demo")
webhooks_app = typer.Typer(no_args_is_help=True, help="Webhook endpoints (run outcomes).")
notifications_app = typer.Typer(
    no_args_is_help=True, help="Failed notifications: webhooks and mail."
)
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(notifications_app, name="notifications")
app.add_typer(mail_app, name="mail")


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
    channel: Annotated[str | None, typer.Option(help="webhook or mail (default: both)")] = None,
) -> None:
    """The dead letters as JSON lines (newest first), then the total."""
    if channel is not None and channel not in CHANNELS:
        raise typer.BadParameter(f"--channel is one of: {', '.join(CHANNELS)}")

    async def listed() -> tuple[list[Any], int]:
        async with admin.outbox_of(Settings()) as outbox:
            return await outbox.failed(tenant, retried=retried, limit=limit, channel=channel)

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
    size: Annotated[
        int,
        typer.Option(
            "--size",
            "--assets",
            min=0,
            max=1_000_000,
            help="how much demo data each application creates (accounting: assets)",
        ),
    ] = 500,
    as_json: Json = False,
) -> None:
    """Create the demo tenant, an admin key (last line), a demo run and each application's
    demo data (accounting: an asset register, and the posting of last month that opens
    the books)."""
    settings = Settings()
    run_async(admin.migrate_all(settings))
    seed = run_async(admin.seed_demo(settings, tenant, size))
    if as_json:
        emit_json({
            "tenant": tenant, "size": size, "run_id": seed.run_id, "key": seed.key,
            "plugins": {name: made.facts for name, made in seed.plugins.items()},
        })  # fmt: skip
        return
    if seed.run_id:
        typer.echo(f"queued demo run {seed.run_id}")
    for made in seed.plugins.values():
        for line in made.lines:
            typer.echo(line)
    typer.echo(seed.key)


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
    if (problem := port_problem(settings.host, settings.port)) is not None:
        raise fail(problem)  # before anything is migrated, seeded or printed
    if migrate if migrate is not None else is_sqlite(settings.database_url):
        run_async(admin.migrate_all(settings))
    run_async(admin.preflight(settings, seeding=demo))
    if demo:
        _print_demo(settings)
    setup_logging(settings)
    if workers > 1:  # each process builds its app from the environment
        os.environ["PROGRESS_SSE_RUN_JOBS"] = str(settings.run_jobs).lower()
        uvicorn.run(
            "progress_sse.web.app:create_worker_app", factory=True, workers=workers,
            **uvicorn_options(settings),
        )  # fmt: skip
        return
    uvicorn.run(create_app(settings), **uvicorn_options(settings))


DEMO_SIZE = 2_000  # the accounting application's demo assets


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
    if (problem := settings.pool_problem()) is not None:  # the settings first: they cannot work
        raise fail(problem)
    run_async(admin.require_schemas(settings))  # a database never migrated: say what to run
    setup_logging(settings)
    run_async(admin.run_worker(settings))


def setup_logging(settings: Settings) -> None:
    logs.setup_logging(settings.log_level, settings.log_format)


def _print_demo(settings: Settings) -> None:
    command = cli_command()
    seed = run_async(admin.seed_demo(settings, "demo", DEMO_SIZE, command))
    typer.echo("\n".join(demo_lines(settings, seed, command)), file=sys.stderr)


def cli_command() -> str:
    """How this shell ran us (`.venv/bin/progress-sse`), so suggested commands paste as is."""
    ran = Path(sys.argv[0])
    return str(ran) if ran.name == "progress-sse" and ran.parent != Path() else "progress-sse"


def demo_lines(settings: Settings, seed: admin.DemoSeed, command: str) -> list[str]:
    """What `serve --demo` prints: the key, a run to watch live, and what is true of the
    run it queued (it runs only where jobs run)."""
    base = settings.served_url
    lines = ["", "Demo tenant 'demo' is ready. Its admin API key (shown once):", f"  {seed.key}"]
    lines += [
        "",
        "In another terminal, start a run and watch it live:",
        f"  export PROGRESS_SSE_URL={base} PROGRESS_SSE_API_KEY={seed.key}",
        f"  {command} runs start demo -p items=60 -p delay_ms=80 --watch",
        "",
    ]
    for made in seed.plugins.values():
        lines += [*made.try_these, ""] if made.try_these else []
    lines += [
        "A stream replays a finished run from its first event with Last-Event-ID: 0:",
        f"  curl -N {base}/api/runs/<id>/events -H 'Last-Event-ID: 0' "
        f"-H 'Authorization: Bearer {seed.key}'",
        "",
    ]
    if seed.run_id and settings.run_jobs:
        lines.append(
            f"A demo run is queued and runs as the server starts: {base}/api/runs/{seed.run_id}"
        )
    elif seed.run_id:
        lines.append(
            f"A demo run is queued: {base}/api/runs/{seed.run_id}. With --no-jobs it, and every "
            f"run started above, stays pending until a worker runs it: `{command} worker` "
            "in another terminal."
        )
    lines += [f"Or open {base}/ and sign in with the key.", ""]
    return lines
