"""Limits on the request itself, before any route runs.

uvicorn's httptools parser accepts request headers of any size, so a client
could send megabytes of them with every request. Over `max_header_bytes` the
answer is `400 headers_too_large` (the contract's error statuses have no 431), and
no route runs.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from progress_sse.api.errors import error_response
from progress_sse.errors import HeadersTooLarge


class HeaderLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) + 4 for name, value in scope["headers"])
            size += len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            if size > self.max_bytes:
                response = error_response(
                    HeadersTooLarge(
                        f"The request's headers and URL are {size} bytes; at most "
                        f"{self.max_bytes} are accepted."
                    )
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
