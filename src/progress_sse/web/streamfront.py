"""The event streams' own way in: served at the app's outermost layer, below no middleware.

An idle stream is a suspended coroutine chain, and every ASGI layer it was
called through stays on it for the stream's whole life: Starlette's error
middleware, the access log, the request guard, CORS, the exception
middleware, the router, the route and `request_response`, each with its frame
and its `send` wrapper. That was about 8 KB of the 22 KB an idle stream cost
(bench/RESULTS.md, finding 6). `StreamFront` sits outside all of them and
serves `GET` on the stream routes itself, doing for them what those layers
did, with their own code and configuration:

- the request guard's checks (`RequestGuard.problem`), answered without CORS
  headers, as the guard sits outside CORS;
- the endpoint (authentication, rate limit, the stream caps, tenant
  isolation all happen in it), its exceptions mapped by the app's exception
  handlers; an exception no handler but `Exception`'s knows becomes that
  handler's 500, without CORS headers, as Starlette's error middleware does;
- CORS: the app's own `CORSMiddleware`, built from the same `Middleware`
  entry, adds its headers to the response's start (preflight `OPTIONS`
  requests go through the stack);
- the access log line (`accesslog.log_request`), written when the stream ends.

Every other request, `HEAD` on a stream included, goes through the stack
unchanged. Middleware added to the app with `add_middleware` does not see
the streams; wrap the app to see them.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from progress_sse.streaming.sse import SERVER_SEND
from progress_sse.web.api.errors import error_response
from progress_sse.web.middleware.accesslog import AccessLog, log_request
from progress_sse.web.middleware.guards import RequestGuard

Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Exception], Any]  # a Starlette exception handler
Handlers = Mapping[Any, Handler]  # exception class or status code -> handler


class StreamFront:
    """Outermost ASGI layer: `GET` on `streams` served here, everything else by `app`."""

    def __init__(
        self,
        app: ASGIApp,
        streams: Sequence[Route],
        middleware: Sequence[Middleware],
        handlers: Handlers,
    ) -> None:
        self.app = app
        self.streams = list(streams)
        for route in self.streams:
            if not inspect.iscoroutinefunction(route.endpoint):
                raise TypeError(f"a stream endpoint must be async: {route.path}")
        self.guard: RequestGuard | None = None
        self.cors: Middleware | None = None
        self.logged = False
        for entry in middleware:
            cls, args, kwargs = entry
            if cls is RequestGuard:
                self.guard = RequestGuard(app, *args, **kwargs)
            elif cls is CORSMiddleware:
                self.cors = entry
            elif cls is AccessLog:
                self.logged = True
        # As Starlette splits them: `Exception` (or 500) is the error middleware's, outside
        # CORS; the rest are the exception middleware's, inside it.
        self.unexpected: Handler | None = handlers.get(500) or handlers.get(Exception)
        self.handlers = {key: h for key, h in handlers.items() if key not in (500, Exception)}

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # Not a coroutine function: whatever is served, this layer adds no frame to it.
        if scope["type"] == "http":
            scope[SERVER_SEND] = send  # body chunks skip the stack's send wrappers (sse.py)
            if scope["method"] == "GET":
                for route in self.streams:
                    match, child = route.matches(scope)
                    if match is Match.FULL:
                        scope.update(child)
                        return self._serve(scope, receive, send, route.endpoint)
        return self.app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, endpoint: Endpoint) -> None:
        started = time.perf_counter()
        status = 0
        try:
            response = await self._open(scope, receive, endpoint)
            status = response.status_code
            await response(scope, receive, send)
        finally:
            if self.logged:
                log_request(scope, status, started)

    async def _open(self, scope: Scope, receive: Receive, endpoint: Endpoint) -> Response:
        """The response to send: the stream, or the error the stack would have answered.

        Its own coroutine, so the request object dies before the stream begins.
        """
        if self.guard is not None and (problem := self.guard.problem(scope)) is not None:
            return error_response(problem)
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception as exc:
            handler = self._handler(exc)
            if handler is None:
                return await self._unexpected(request, exc)
            response = await _answer(handler, request, exc)
        if self.cors is not None:
            response.raw_headers = await self._cors_headers(scope, receive, response)
        return response

    def _handler(self, exc: Exception) -> Handler | None:
        """The handler Starlette's exception middleware would pick for `exc`."""
        if isinstance(exc, HTTPException) and exc.status_code in self.handlers:
            return self.handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None

    async def _unexpected(self, request: Request, exc: Exception) -> Response:
        """Starlette's error middleware's answer (it logs through the handler). Unlike it,
        nothing is raised on to the server: the 500 is sent, one traceback is enough."""
        if self.unexpected is None:
            return PlainTextResponse("Internal Server Error", status_code=500)
        return await _answer(self.unexpected, request, exc)

    async def _cors_headers(
        self, scope: Scope, receive: Receive, response: Response
    ) -> list[tuple[bytes, bytes]]:
        """`response`'s headers once the app's `CORSMiddleware` has seen its start message.

        A middleware of the app's own configuration, around an app that only sends
        that message, through its public ASGI interface: the headers cannot drift from
        what the stack gives every other route.
        """
        assert self.cors is not None
        start: Message = {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
        seen: list[Message] = []

        async def starting(_scope: Scope, _receive: Receive, send: Send) -> None:
            await send(start)

        async def keep(message: Message) -> None:
            seen.append(message)

        cors, args, kwargs = self.cors
        await cors(starting, *args, **kwargs)(scope, receive, keep)
        return list(seen[0]["headers"])


async def _answer(handler: Handler, request: Request, exc: Exception) -> Response:
    response = handler(request, exc)
    if inspect.isawaitable(response):
        response = await response
    assert isinstance(response, Response)
    return response
