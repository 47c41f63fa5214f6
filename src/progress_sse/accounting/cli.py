"""The accounting application's commands: `progress-sse periods lock|unlock` (on the
database, for operators) and `progress-sse close` (through a running server's API)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from progress_sse.accounting.depreciation import periods
from progress_sse.accounting.depreciation.periods import Period
from progress_sse.cli.batches import follow_batch
from progress_sse.cli.client import Api
from progress_sse.cli.common import run_async
from progress_sse.cli.remote import DEFAULT_URL, ApiKey, ServerUrl, api_errors
from progress_sse.cli.runs import Json
from progress_sse.cli.terminal import emit_json, line, tally
from progress_sse.runs.store import RunStore
from progress_sse.settings import Settings
from progress_sse.storage import db

commands = typer.Typer()
periods_app = typer.Typer(no_args_is_help=True, help="Lock and unlock accounting periods.")
commands.add_typer(periods_app, name="periods")

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
    run_async(set_period_lock(Settings(), tenant, period, locked=locked))
    if as_json:
        emit_json({"tenant": tenant, "period": str(period), "locked": locked})
    else:
        typer.echo(f"{'locked' if locked else 'unlocked'} {period} for tenant {tenant}")


async def set_period_lock(settings: Settings, tenant: str, period: Period, *, locked: bool) -> None:
    """Lock or unlock a month; a lock is refused while a posting run of it is active."""
    if locked:
        async with db.sessions_for(settings.database_url, settings) as sessions:
            await periods.refuse_while_posting(RunStore(sessions), tenant, period)
    async with db.sessions_for(settings.business_url, settings) as sessions:
        if locked:
            await periods.lock(sessions, tenant, period, by="cli")
        else:
            await periods.unlock(sessions, tenant, period)


@commands.command("close")
def close(
    year: Year,
    month: Month,
    file: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="a CSV of new assets to import first"),
    ] = None,
    allow_earlier_unposted: Annotated[
        bool, typer.Option(help="post although an earlier month has no posting (recorded)")
    ] = False,
    watch: Annotated[bool, typer.Option(help="follow it live to its end")] = False,
    url: ServerUrl = DEFAULT_URL,
    key: ApiKey = "",
    as_json: Json = False,
) -> None:
    """The month-end close (admin): import (with --file), the depreciation run, then the
    lock of the month, as one batch. With --watch: exit 0 completed, 3 failed, 4 cancelled."""
    api = Api(url, key)
    query = {"allow_earlier_unposted": "true"} if allow_earlier_unposted else None
    with api_errors():
        answer = api.call(
            "POST", f"/api/close/{year}/{month}", params=query,
            content=file.read_bytes() if file is not None else b"",
        )  # fmt: skip
    batch = answer["data"]
    if not watch:
        if as_json:
            emit_json(batch)
        else:
            parts = " -> ".join(child["name"] for child in batch["children"])
            line(f"started {batch['name']} ({batch['id']}): {parts}; {tally(batch['counts'])}")
            line(f"follow it with: progress-sse batches watch {batch['id']}")
        return
    raise typer.Exit(code=follow_batch(api, batch["id"], as_json))
