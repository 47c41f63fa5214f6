"""`/api/session`: exchange an API key for a browser session, read it, end it."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from progress_sse.errors import Unauthorized, ValidationFailed
from progress_sse.settings import Settings
from progress_sse.web.api.body import read_json_object
from progress_sse.web.api.runs import caller
from progress_sse.web.security.auth import Principal, key_for, refuse_if_over_limit
from progress_sse.web.security.ratelimit import Scope
from progress_sse.web.security.websession import end_session, open_session
from progress_sse.web.services import services


def _who(principal: Principal, settings: Settings) -> dict[str, str | float]:
    """Who is signed in, and the server's stale threshold (the page's badge uses it)."""
    return {
        "tenant": principal.tenant_id,
        "role": principal.role.value,
        "key": principal.key_prefix,
        "stale_after_s": settings.stale_after_s,
    }


async def create(request: Request) -> Response:
    """The key comes in the JSON body, never in a URL; the answer sets the cookie."""
    svc = services(request)
    client = request.client.host if request.client else "unknown"
    await svc.rate_limits.hit(Scope.SIGN_IN, client)  # every attempt counts: no key guessing
    body = await read_json_object(
        request, svc.settings.max_body_bytes, svc.settings.timeout_request_body_s
    )
    key = body.get("api_key")
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ValidationFailed(
            "'api_key' is required.", fields=[{"field": "api_key", "message": "required"}]
        )
    await refuse_if_over_limit(svc.rate_limits, client)  # locked out for refused keys
    principal = await key_for(svc.sessions, key)
    if principal is None:
        await svc.rate_limits.hit(Scope.FAILED_AUTH, client)  # 429 once over the limit
        raise Unauthorized("The API key is not valid.", code="invalid_key")
    await svc.key_usage.touch(principal.key_id)
    token = await open_session(
        svc.sessions, principal.key_id, principal.tenant_id, svc.settings.session_ttl_s
    )
    response = JSONResponse({})
    web = svc.sessions_codec.issue(response, request, token)
    response.body = response.render(
        {"success": True, "signed_in": True, **_who(principal, svc.settings),
         "csrf_token": web.csrf, "expires_in_s": svc.settings.session_ttl_s}
    )  # fmt: skip
    response.headers["content-length"] = str(len(response.body))
    response.headers["cache-control"] = "no-store"
    return response


async def show(request: Request) -> Response:
    """Who the cookie belongs to, and its CSRF token (same-origin scripts only).

    A visitor is not signed in, which is normal: `200` with `signed_in: false`, so a page
    asking on load logs no error. A cookie that no longer signs in (expired, ended, signed
    by a restarted process) gets the same, with `ended` and a message saying why, and is
    cleared. A bad bearer key is still `401`.
    """
    svc = services(request)
    bearer = "authorization" in request.headers
    try:
        if not bearer and svc.sessions_codec.read(request) is None:  # no cookie: a visitor
            return JSONResponse(
                {"success": True, "signed_in": False}, headers={"cache-control": "no-store"}
            )
        svc, principal = await caller(request)  # one session lookup, whatever the caller
        web = svc.sessions_codec.read(request)
    except Unauthorized as exc:
        if bearer:
            raise
        ended = JSONResponse(  # a cookie that no longer signs in: say why, and drop it
            {"success": True, "signed_in": False, "ended": exc.code, "message": exc.message},
            headers={"cache-control": "no-store"},
        )
        svc.sessions_codec.clear(ended, request)
        return ended
    return JSONResponse(
        {"success": True, "signed_in": True, **_who(principal, svc.settings),
         "csrf_token": web.csrf if web else None},
        headers={"cache-control": "no-store"},
    )  # fmt: skip


async def delete(request: Request) -> Response:
    """Sign out: the session ends server-side, so a copy of the cookie replayed later gets 401."""
    svc, _who = await caller(request)  # a cookie session needs its CSRF token to end it
    with contextlib.suppress(Unauthorized):  # a bearer caller with a stale cookie: just clear it
        web = svc.sessions_codec.read(request)
        if web is not None:
            await end_session(svc.sessions, web)
    response = JSONResponse({"success": True})
    svc.sessions_codec.clear(response, request)
    return response


def routes() -> list[Route]:
    return [
        Route("/api/session", create, methods=["POST"]),
        Route("/api/session", show, methods=["GET"]),
        Route("/api/session", delete, methods=["DELETE"]),
    ]
