"""`run_eagerly`: a coroutine runs in place, and is resumed like a Task only if it waits."""

from __future__ import annotations

import asyncio

import pytest

from progress_sse.streaming.eager import run_eagerly


async def test_a_coroutine_that_never_waits_completes_inside_the_call() -> None:
    seen: list[str] = []

    async def write() -> None:
        seen.append("written")

    assert run_eagerly(write()) is None
    assert seen == ["written"]


async def test_an_error_raised_before_any_wait_reaches_the_caller() -> None:
    async def broken() -> None:
        raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        run_eagerly(broken())


async def test_a_coroutine_that_waits_is_resumed_when_its_future_is_done() -> None:
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    steps: list[str] = []
    outcomes: list[BaseException | None] = []

    async def paused_write() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)  # a bare yield is resumed on the next loop turn
        steps.append("after")

    driven = run_eagerly(paused_write(), outcomes.append)
    assert driven is not None and not driven.finished
    assert steps == ["before"] and outcomes == []
    gate.set_result("drained")
    for _ in range(10):
        await asyncio.sleep(0)
    assert steps == ["before", "drained", "after"]
    assert outcomes == [None] and driven.finished


async def test_an_error_after_a_wait_is_handed_to_done() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outcomes: list[BaseException | None] = []

    async def fails_later() -> None:
        await gate
        raise BrokenPipeError("client left")

    run_eagerly(fails_later(), outcomes.append)
    gate.set_result(None)
    await asyncio.sleep(0)
    assert len(outcomes) == 1 and isinstance(outcomes[0], BrokenPipeError)


async def test_the_future_s_own_error_is_raised_inside_the_coroutine() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    caught: list[str] = []

    async def handles() -> None:
        try:
            await gate
        except TimeoutError:
            caught.append("timeout")

    outcomes: list[BaseException | None] = []
    run_eagerly(handles(), outcomes.append)
    gate.set_exception(TimeoutError())
    await asyncio.sleep(0)
    assert caught == ["timeout"] and outcomes == [None]


async def test_close_abandons_a_waiting_coroutine_and_runs_its_cleanup() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    cleaned: list[bool] = []
    outcomes: list[BaseException | None] = []

    async def waits_forever() -> None:
        try:
            await gate
        finally:
            cleaned.append(True)

    driven = run_eagerly(waits_forever(), outcomes.append)
    assert driven is not None
    driven.close()
    gate.set_result(None)
    await asyncio.sleep(0)
    assert cleaned == [True] and outcomes == [] and driven.finished


async def test_yielding_something_that_is_not_a_future_is_an_error() -> None:
    class Odd:
        def __await__(self):  # type: ignore[no-untyped-def]
            yield "not a future"

    outcomes: list[BaseException | None] = []

    async def odd() -> None:
        await Odd()

    driven = run_eagerly(odd(), outcomes.append)
    assert driven is not None and driven.finished
    assert isinstance(outcomes[0], RuntimeError)


# -- the one asyncio internal it relies on ---------------------------------------------
# `Driven.wait_on` clears `_asyncio_future_blocking`, as asyncio's Task does, so that the
# future may be awaited again (by another coroutine, or by this one after a wake-up). These
# fail loudly on a Python whose asyncio changes that protocol; pyproject.toml bounds the
# Python versions this was tested on.


async def test_asyncio_futures_still_carry_the_blocking_flag_the_driver_clears() -> None:
    future = asyncio.get_running_loop().create_future()
    assert future._asyncio_future_blocking is False  # the duck-typing marker asyncio uses
    waiting = future.__await__()
    assert next(waiting) is future and future._asyncio_future_blocking is True
    future.cancel()


async def test_two_driven_coroutines_can_wait_on_one_shared_future() -> None:
    """Without the flag cleared, the second `await` raises "await wasn't used with future"."""
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    seen: list[str] = []
    outcomes: list[BaseException | None] = []

    async def waiter(name: str) -> None:
        seen.append(f"{name}:{await gate}")

    first = run_eagerly(waiter("a"), outcomes.append)
    second = run_eagerly(waiter("b"), outcomes.append)
    assert first is not None and second is not None
    gate.set_result("open")
    for _ in range(5):
        await asyncio.sleep(0)
    assert sorted(seen) == ["a:open", "b:open"] and outcomes == [None, None]


async def test_a_task_can_await_a_future_a_driven_coroutine_waits_on() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outcomes: list[BaseException | None] = []

    async def waiter() -> None:
        await gate

    run_eagerly(waiter(), outcomes.append)
    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    gate.set_result(None)
    await asyncio.wait_for(task, 1)
    await asyncio.sleep(0)
    assert outcomes == [None]
