"""Run a coroutine without a Task: synchronously as far as it goes, then on callbacks.

A live event goes to thousands of watchers. Waking one task per watcher to
call the ASGI `send` costs a scheduler round trip each; but an ASGI `send`
of a body chunk almost never suspends (uvicorn writes to the transport at
once unless flow control has paused it), so the hub can call it in place.
`run_eagerly` steps the coroutine right away; only if it does suspend is it
resumed from the future it waits on, exactly as a Task would, so any ASGI
server stays correct and ordering is kept: the caller learns that the send
is pending and must not write again until `done` has been called.

This is the one module that touches an asyncio internal: a future's
`_asyncio_future_blocking` flag (the marker `asyncio.isfuture` reads), cleared
as Task does. `tests/unit/test_eager.py` fails loudly if asyncio changes it,
and pyproject.toml bounds Python to the versions the suite ran on. (Python
3.12's eager tasks do the same in public, but build a Task per write, and
3.11 has none.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, cast

Done = Callable[[BaseException | None], None]


class Driven:
    """A suspended coroutine, resumed from the futures it waits on; `close()` abandons it."""

    __slots__ = ("_coro", "_done", "finished")

    def __init__(self, coro: Coroutine[Any, Any, Any], done: Done | None) -> None:
        self._coro = coro
        self._done = done
        self.finished = False

    def wait_on(self, waiting: object) -> None:
        """Resume when `waiting` (what the coroutine just yielded) is ready."""
        if waiting is None:  # a bare yield (asyncio.sleep(0)): resume on the next loop turn
            asyncio.get_running_loop().call_soon(self.step)
        elif asyncio.isfuture(waiting):
            waiting._asyncio_future_blocking = False  # as Task.__step does
            waiting.add_done_callback(self.step)
        else:
            self._coro.close()
            self._finish(RuntimeError(f"cannot drive a coroutine that yielded {waiting!r}"))

    def step(self, _future: object = None) -> None:
        if self.finished:
            return
        try:
            waiting = self._coro.send(None)
        except StopIteration:
            self._finish(None)
        except BaseException as exc:
            self._finish(exc)
        else:
            self.wait_on(waiting)

    def _finish(self, error: BaseException | None) -> None:
        self.finished = True
        if self._done is not None:
            self._done(error)

    def close(self) -> None:
        """Stop caring: the coroutine is closed where it waits, `done` is never called."""
        if not self.finished:
            self.finished = True
            self._coro.close()


def run_eagerly(coro: Awaitable[Any], done: Done | None = None) -> Driven | None:
    """Run `coro` now. None: it completed here (an exception it raises propagates).

    Otherwise it suspended: the returned `Driven` resumes it like a Task would
    and calls `done(error)` when it ends.
    """
    coroutine = cast(Coroutine[Any, Any, Any], coro)  # ASGI types `send` as Awaitable
    try:
        waiting = coroutine.send(None)
    except StopIteration:
        return None
    driven = Driven(coroutine, done)
    driven.wait_on(waiting)
    return driven
