"""Admin routes: a tenant's mail recipients of run and batch outcomes (docs/mail.md).

Their dead letters are the webhooks' (`/api/notifications/failed`, `channel`
mail), retried the same way.
"""

from __future__ import annotations

from typing import Any, cast

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from progress_sse.errors import ValidationFailed
from progress_sse.mail.recipients import Recipients, address_of
from progress_sse.runs.events import iso
from progress_sse.settings import Settings
from progress_sse.web.api.body import read_json_object
from progress_sse.web.api.runs import caller
from progress_sse.web.api.webhooks import path_id
from progress_sse.webhooks.models import Webhook
from progress_sse.webhooks.payload import EVENTS
from progress_sse.wire import MailRecipientJson, WebhookEventName

NOT_CONFIGURED = (
    "Mail is not configured on this server (PROGRESS_SSE_SMTP_HOST is unset): recipients "
    "are kept, but no mail is queued or sent until it is."
)


def recipient_json(row: Webhook) -> MailRecipientJson:
    return {
        "id": row.id,
        "address": address_of(row),
        "events": cast(list[WebhookEventName], list(row.events)),
        "created_at": iso(row.created_at),
        "created_by": row.created_by,
    }


def mail_state(settings: Settings) -> dict[str, Any]:
    """Whether this server mails at all, said with every answer, so nobody waits in vain."""
    if settings.mail_enabled:
        return {"mail_configured": True}
    return {"mail_configured": False, "warning": NOT_CONFIGURED}


def only(body: dict[str, Any], allowed: set[str]) -> None:
    """Refuse fields this route does not know: a typo must not pass silently."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ValidationFailed(
            f"Unknown field {unknown[0]!r}; this route takes: {', '.join(sorted(allowed))}.",
            fields=[{"field": name[:100], "message": "unknown field"} for name in unknown[:10]],
        )


async def add_recipient(request: Request) -> Response:
    """`{"address", "events"?}`: every outcome by default."""
    svc, who = await caller(request)
    who.require_admin()
    body = await read_json_object(
        request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
    )
    only(body, {"address", "events"})
    row = await Recipients(svc.sessions).add(
        who.tenant_id, body.get("address"), body.get("events", list(EVENTS)), by=who.key_prefix
    )
    return JSONResponse(
        {"success": True, "data": recipient_json(row), **mail_state(svc.settings)},
        status_code=201,
    )


async def list_recipients(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    rows = await Recipients(svc.sessions).listed(who.tenant_id)
    return JSONResponse(
        {"success": True, "data": [recipient_json(r) for r in rows], **mail_state(svc.settings)}
    )


async def change_recipient(request: Request) -> Response:
    """`{"events": [...]}`: which outcomes it gets from now on."""
    svc, who = await caller(request)
    who.require_admin()
    recipient_id = path_id(request, "recipient_id")
    body = await read_json_object(
        request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
    )
    only(body, {"events"})
    if "events" not in body:
        raise ValidationFailed(
            "'events' is required.", fields=[{"field": "events", "message": "required"}]
        )
    row = await Recipients(svc.sessions).set_events(who.tenant_id, recipient_id, body["events"])
    return JSONResponse({"success": True, "data": recipient_json(row), **mail_state(svc.settings)})


async def remove_recipient(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    await Recipients(svc.sessions).remove(who.tenant_id, path_id(request, "recipient_id"))
    return JSONResponse({"success": True})


def routes() -> list[Route]:
    return [
        Route("/api/mail/recipients", add_recipient, methods=["POST"]),
        Route("/api/mail/recipients", list_recipients, methods=["GET"]),
        Route("/api/mail/recipients/{recipient_id}", change_recipient, methods=["PATCH"]),
        Route("/api/mail/recipients/{recipient_id}", remove_recipient, methods=["DELETE"]),
    ]
