"""uvicorn's httptools protocol with a deadline for a request's headers (slowloris).

uvicorn times out an idle keep-alive connection, but not one whose request
never completes: a connection opened and left silent, or fed a byte at a
time, stays open for ever (2,000 of them held 2,000 file descriptors until
normal clients were refused). This subclass arms a timer when a connection
opens and when a request starts, disarms it once the headers are complete
(so an open event stream is never cut), and closes the connection when it
fires.

It also makes a connection lighter: uvicorn gives each one a `deque` for
pipelined requests and two `asyncio.Event`s (flow control, and the
request's messages), and an empty `deque` costs 760 bytes. An idle event
stream holds all three for hours: 2 KB of the 13.6 KB it cost
(bench/RESULTS.md, finding 6). Here they are a list and two `LeanEvent`s.

It relies on uvicorn's protocol methods (`connection_made`,
`on_message_begin`, `on_headers_complete`, `connection_lost`) and attributes
(`pipeline`, `flow._is_writable_event`, `cycle.message_event`), which are not
a public API: `tests/unit/test_httpguard.py` fails loudly if they change,
and pyproject.toml bounds uvicorn's version.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from progress_sse.settings import Settings

log = logging.getLogger(__name__)


@functools.cache
def header_timeout_s() -> float:
    """`PROGRESS_SSE_TIMEOUT_REQUEST_HEADER_S`, read once per process (each uvicorn worker)."""
    return Settings().timeout_request_header_s


class LeanEvent:
    """`asyncio.Event` as uvicorn uses it (set, clear, is_set, wait), waiters in a list."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if not self._value:
            self._value = True
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            self._waiters.remove(waiter)


class Pipeline(list[Any]):
    """The queue of pipelined requests uvicorn keeps in a `deque` (rarely more than empty)."""

    __slots__ = ()

    def appendleft(self, item: Any) -> None:
        self.insert(0, item)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """Closes a connection whose request headers are not complete in `header_timeout_s()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None
        self.pipeline = Pipeline()  # type: ignore[assignment]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow._is_writable_event = LeanEvent(self.flow._is_writable_event.is_set())  # type: ignore[assignment]
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:  # a keep-alive connection's next request
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        previous = self.cycle
        super().on_headers_complete()
        if self.cycle is not previous:  # a new request's; its task has not run yet
            self.cycle.message_event = LeanEvent()  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = asyncio.get_running_loop().call_later(
            header_timeout_s(), self._too_slow
        )

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            log.debug("closing a connection whose request headers did not complete in time")
            self.transport.close()


PROTOCOL = f"{__name__}:{GuardedHttpToolsProtocol.__name__}"  # for uvicorn's `http` option
