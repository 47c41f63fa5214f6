"""Admin routes: reset a tenant's active runs, clean up old finished runs, sign out everywhere."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from progress_sse.errors import NotFound, ValidationFailed
from progress_sse.jobs.maintenance import delete_finished, reset_tenant
from progress_sse.web.api.body import read_json_object
from progress_sse.web.api.runs import caller
from progress_sse.web.security.websession import sign_out_everywhere


async def reset(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    tenant = request.path_params["tenant"]
    if tenant != who.tenant_id:  # another tenant is indistinguishable from none
        raise NotFound("No such tenant.", code="tenant_not_found")
    count = await reset_tenant(svc.store, svc.broker, tenant, by=who.key_prefix)
    # A paused batch has no running child whose failure would end it: it is ended here.
    count += await svc.batches.fail_paused(tenant, by=who.key_prefix)
    return JSONResponse({"success": True, "reset_count": count})


async def cleanup(request: Request) -> Response:
    svc, who = await caller(request)
    who.require_admin()
    body = await read_json_object(
        request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
    )
    days = body.get("older_than_days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 36_500:
        raise ValidationFailed(
            "'older_than_days' must be a whole number of days from 1 to 36500.",
            fields=[{"field": "older_than_days", "message": "1-36500"}],
        )
    deleted = await delete_finished(
        svc.store, older_than=timedelta(days=days), tenant_id=who.tenant_id, by=who.key_prefix
    )
    return JSONResponse({"success": True, "deleted_runs": deleted, "older_than_days": days})


async def revoke_sessions(request: Request) -> Response:
    """Sign out everywhere: the tenant's browser sessions, or one key's (`{"key_id": n}`)."""
    svc, who = await caller(request)
    who.require_admin()
    # The body is optional; a chunked one is read too, so a key_id never goes unseen.
    has_body = (
        request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    )
    body = (
        await read_json_object(
            request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
        )
        if has_body
        else {}
    )
    key_id = body.get("key_id")
    if key_id is not None and (
        not isinstance(key_id, int) or isinstance(key_id, bool) or not 1 <= key_id < 2**31
    ):
        raise ValidationFailed(
            "'key_id' must be the id of one of your API keys (a whole number), or left out.",
            fields=[{"field": "key_id", "message": "positive whole number"}],
        )
    revoked = await sign_out_everywhere(svc.sessions, who.tenant_id, key_id, by=who.key_prefix)
    return JSONResponse({"success": True, "revoked": revoked})


def routes() -> list[Route]:
    return [
        Route("/api/admin/tenants/{tenant}/reset", reset, methods=["POST"]),
        Route("/api/admin/cleanup", cleanup, methods=["POST"]),
        Route("/api/admin/sessions/revoke", revoke_sessions, methods=["POST"]),
    ]
