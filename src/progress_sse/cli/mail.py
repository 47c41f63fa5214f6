"""`progress-sse mail …`: a tenant's mail recipients of run and batch outcomes, on the
database (like `webhooks`); their dead letters are `notifications failed --channel mail`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from progress_sse.cli.common import run_async
from progress_sse.cli.remote import Json
from progress_sse.cli.terminal import emit_json, table
from progress_sse.mail.recipients import Recipients, address_of
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.webhooks.models import Webhook
from progress_sse.webhooks.payload import EVENTS

T = TypeVar("T")
mail_app = typer.Typer(
    no_args_is_help=True, help="Mail recipients of run and batch outcomes (docs/mail.md)."
)
Events = Annotated[
    list[str] | None,
    typer.Option(
        "--events", help=f"comma-separated, or repeated: {','.join(EVENTS)} (default: all)"
    ),
]


def split_events(given: list[str] | None) -> list[str]:
    """`--events complete,error` and `--events complete --events error` alike."""
    return [e.strip() for item in given or [] for e in item.split(",") if e.strip()]


def with_recipients(action: Callable[[Recipients], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = Settings()
        async with db.sessions_for(settings.database_url, settings) as sessions:
            return await action(Recipients(sessions))

    return run_async(run())


def as_json(row: Webhook) -> dict[str, Any]:
    return {"id": row.id, "tenant": row.tenant_id, "address": address_of(row),
            "events": list(row.events)}  # fmt: skip


def warn_if_unconfigured() -> None:
    if not Settings().mail_enabled:
        typer.echo(
            "note: PROGRESS_SSE_SMTP_HOST is unset: no mail is queued or sent until it is "
            "(docs/mail.md)",
            err=True,
        )


@mail_app.command("add")
def mail_add(
    address: Annotated[str, typer.Argument(help="one address: name@example.com")],
    tenant: Annotated[str, typer.Option(help="tenant id")],
    events: Events = None,
    json_out: Json = False,
) -> None:
    """Mail this address the tenant's run and batch outcomes."""
    chosen = split_events(events) or list(EVENTS)
    row = with_recipients(lambda r: r.add(tenant, address, chosen, by="cli"))
    warn_if_unconfigured()
    if json_out:
        emit_json(as_json(row))
        return
    typer.echo(f"mail recipient {row.id} for tenant {tenant}: {address_of(row)} "
               f"({', '.join(row.events)})")  # fmt: skip


@mail_app.command("list")
def mail_list(
    tenant: Annotated[str | None, typer.Option(help="one tenant")] = None, json_out: Json = False
) -> None:
    """Every recipient: id, tenant, events, address."""
    rows = with_recipients(lambda r: r.listed(tenant))
    warn_if_unconfigured()
    if json_out:
        emit_json([as_json(row) for row in rows])
    else:
        table("Mail recipients", ("id", "tenant", "events", "address"),
              [[r.id, r.tenant_id, ",".join(r.events), address_of(r)] for r in rows])  # fmt: skip


@mail_app.command("update")
def mail_update(
    recipient_id: Annotated[int, typer.Argument(help="the recipient's id (mail list)")],
    events: Events = None,
    json_out: Json = False,
) -> None:
    """Change which outcomes a recipient gets."""
    chosen = split_events(events)
    if not chosen:
        raise typer.BadParameter("give --events, e.g. --events error,stale")
    row = with_recipients(lambda r: r.set_events(None, recipient_id, chosen))
    if json_out:
        emit_json(as_json(row))
        return
    typer.echo(f"mail recipient {row.id}: {address_of(row)} ({', '.join(row.events)})")


@mail_app.command("remove")
def mail_remove(recipient_id: int) -> None:
    """Remove a recipient, with its queued mail and dead letters."""
    with_recipients(lambda r: r.remove(None, recipient_id))
    typer.echo(f"removed mail recipient {recipient_id}")
