"""The one place where exceptions become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from progress_sse.errors import DatabaseBusy, ProgressSSEError
from progress_sse.storage.db import is_busy

log = logging.getLogger(__name__)
BUSY_RETRY_AFTER_S = 2


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    error.update({k: v for k, v in extra.items() if v is not None})
    return {"success": False, "error": error}


async def handle_app_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProgressSSEError)
    return error_response(exc)


def error_response(exc: ProgressSSEError) -> JSONResponse:
    """The JSON error for `exc` (also used by middleware, outside the exception handlers)."""
    headers: dict[str, str] = {}
    if (retry_after := exc.extra.get("retry_after_s")) is not None:
        headers["Retry-After"] = str(retry_after)
    if exc.status_code == 408:  # the rest of that request will never be read
        headers["Connection"] = "close"
    return JSONResponse(
        error_body(exc.code, exc.message, **exc.extra),
        status_code=exc.status_code,
        headers=headers or None,
    )


async def handle_client_gone(_request: Request, _exc: Exception) -> Response:
    """The client left in the middle of its request: nobody reads an answer, nothing is
    logged but the access line (a traceback per dropped upload would flood the log)."""
    return Response(status_code=400)


async def handle_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def handle_database_error(request: Request, exc: Exception) -> Response:
    """SQLite's "database is locked" after the busy timeout is a wait, not a fault: 503."""
    if is_busy(exc):
        return error_response(
            DatabaseBusy(
                "Another run is writing to the database; try again in a moment.",
                retry_after_s=BUSY_RETRY_AFTER_S,
            )
        )
    return await handle_unexpected(request, exc)


async def handle_unexpected(_request: Request, exc: Exception) -> Response:
    """Never a stack trace or SQL in a response; the log has them."""
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(
        error_body("internal_error", "Something went wrong on the server."), status_code=500
    )


EXCEPTION_HANDLERS = {
    ProgressSSEError: handle_app_error,
    ClientDisconnect: handle_client_gone,
    OperationalError: handle_database_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected,
}
