"""Limits on the request itself, before any route runs.

uvicorn's httptools parser accepts request headers of any size, so a client
could send megabytes of them with every request. Over `max_header_bytes` the
answer is `400 headers_too_large` (the contract's error statuses have no 431), and
no route runs.

A NUL character in the path or the query string (`%00`) is refused with
`400 bad_request` too: PostgreSQL stores no NUL in text, so a run id, a
filter or a file name carrying one would fail deep in a query instead.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from progress_sse.errors import BadRequest, HeadersTooLarge, ProgressSSEError
from progress_sse.web.api.errors import error_response


class RequestGuard:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        problem = self.problem(scope) if scope["type"] == "http" else None
        if problem is not None:
            await error_response(problem)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def problem(self, scope: Scope) -> ProgressSSEError | None:
        query: bytes = scope.get("query_string") or b""
        size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
        size += len(scope.get("raw_path") or b"") + len(query)
        if size > self.max_bytes:
            return HeadersTooLarge(
                f"The request's headers and URL are {size} bytes; at most "
                f"{self.max_bytes} are accepted."
            )
        if "\0" in scope.get("path", "") or b"\0" in unquote_to_bytes(query):
            return BadRequest("The URL contains a NUL character (%00), which no field accepts.")
        return None
