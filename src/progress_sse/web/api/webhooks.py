"""Admin routes: webhook endpoints and the dead-letter table of failed notifications (both
channels: webhooks and mail)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from progress_sse.errors import NotFound, ValidationFailed
from progress_sse.runs.events import iso
from progress_sse.web.api.body import query_int, read_json_object
from progress_sse.web.api.runs import caller
from progress_sse.webhooks.models import CHANNELS, Webhook, failed_json
from progress_sse.webhooks.payload import EVENTS
from progress_sse.webhooks.urls import check_url


def webhook_json(hook: Webhook) -> dict[str, Any]:
    """An endpoint as listed: never its secret (that is shown once, at creation)."""
    return {
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "description": hook.description,
        "created_at": iso(hook.created_at),
        "created_by": hook.created_by,
    }


def path_id(request: Request, name: str) -> int:
    raw = request.path_params[name]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise NotFound("Not found.", code=f"{name.removesuffix('_id')}_not_found")
    return int(raw)


async def create_webhook(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    body = await read_json_object(
        request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
    )
    url, events = body.get("url"), body.get("events", list(EVENTS))
    secret, description = body.get("secret"), body.get("description", "")
    if not isinstance(url, str):
        raise ValidationFailed(
            "'url' is required.", fields=[{"field": "url", "message": "required"}]
        )
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise ValidationFailed(
            "'events' must be a list of event names.",
            fields=[{"field": "events", "message": "list of strings"}],
        )
    if secret is not None and not isinstance(secret, str):
        raise ValidationFailed(
            "'secret' must be a string.", fields=[{"field": "secret", "message": "string"}]
        )
    if not isinstance(description, str):
        description = ""
    await check_url(url, allow_private=svc.settings.webhook_allow_private)
    hook = await svc.outbox.add_webhook(
        who.tenant_id, url, events, secret=secret, description=description, by=who.key_prefix
    )
    return JSONResponse(
        {"success": True, "data": {**webhook_json(hook), "secret": hook.secret}},
        status_code=201,
        headers={"Cache-Control": "no-store"},
    )


async def list_webhooks(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    hooks = await svc.outbox.webhooks(who.tenant_id)
    return JSONResponse({"success": True, "data": [webhook_json(h) for h in hooks]})


async def delete_webhook(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    await svc.outbox.remove_webhook(who.tenant_id, path_id(request, "webhook_id"))
    return JSONResponse({"success": True})


async def list_failed(request: Request) -> Response:
    """`?retried=false&channel=mail&limit=50`: the dead letters, newest first, with their
    total."""
    svc, who = await caller(request)
    who.require_admin()
    raw = request.query_params.get("retried")
    if raw not in (None, "", "true", "false"):
        raise ValidationFailed(
            "'retried' must be true or false.",
            fields=[{"field": "retried", "message": "true or false"}],
        )
    retried = None if not raw else raw == "true"
    channel = request.query_params.get("channel") or None
    if channel is not None and channel not in CHANNELS:
        raise ValidationFailed(
            f"'channel' must be one of: {', '.join(CHANNELS)}.",
            fields=[{"field": "channel", "message": " or ".join(CHANNELS)}],
        )
    limit = query_int(request, "limit", 50, 1, 500)
    rows, total = await svc.outbox.failed(
        who.tenant_id, retried=retried, limit=limit, channel=channel
    )
    return JSONResponse({"success": True, "data": [failed_json(r) for r in rows], "total": total})


async def retry_failed(request: Request) -> Response:
    """Queue the notification again (same delivery id); the letter is marked retried."""
    svc, who = await caller(request)
    who.require_admin()
    note = await svc.outbox.retry(who.tenant_id, path_id(request, "failed_id"), who.key_prefix)
    return JSONResponse(
        {"success": True, "data": {"delivery_id": note.id, "status": note.status}},
        status_code=202,
    )


def routes() -> list[Route]:
    return [
        Route("/api/webhooks", create_webhook, methods=["POST"]),
        Route("/api/webhooks", list_webhooks, methods=["GET"]),
        Route("/api/webhooks/{webhook_id}", delete_webhook, methods=["DELETE"]),
        Route("/api/notifications/failed", list_failed, methods=["GET"]),
        Route("/api/notifications/failed/{failed_id}/retry", retry_failed, methods=["POST"]),
    ]
