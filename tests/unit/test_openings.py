"""Stream openings: a bounded share of the pool, answered streams before new openings."""

from __future__ import annotations

import asyncio

import pytest

from progress_sse.streaming.openings import Openings


async def _enter(openings: Openings, name: str, order: list[str], *, answered: bool) -> None:
    async with openings.hold(answered=answered):
        order.append(name)
        await asyncio.sleep(0)


async def test_an_answered_stream_goes_before_new_openings_queued_earlier() -> None:
    openings = Openings(1)
    order: list[str] = []
    async with openings.hold():
        tasks = [
            asyncio.create_task(_enter(openings, "new-1", order, answered=False)),
            asyncio.create_task(_enter(openings, "new-2", order, answered=False)),
        ]
        await asyncio.sleep(0)  # both are queued now
        tasks.append(asyncio.create_task(_enter(openings, "answered", order, answered=True)))
        await asyncio.sleep(0)
        assert openings.waiting == 3 and order == []
    await asyncio.gather(*tasks)
    assert order == ["answered", "new-1", "new-2"]


async def test_never_more_than_its_size_at_once() -> None:
    openings = Openings(2)
    inside, most = 0, 0

    async def read() -> None:
        nonlocal inside, most
        async with openings.hold(answered=bool(inside % 2)):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0)
            inside -= 1

    await asyncio.gather(*(read() for _ in range(20)))
    assert most == 2 and openings.waiting == 0


async def test_a_cancelled_waiter_gives_up_its_turn_and_blocks_nobody() -> None:
    openings = Openings(1)
    order: list[str] = []
    async with openings.hold():
        cancelled = asyncio.create_task(_enter(openings, "cancelled", order, answered=True))
        later = asyncio.create_task(_enter(openings, "later", order, answered=False))
        await asyncio.sleep(0)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert openings.waiting == 1
    await later
    assert order == ["later"]
    async with asyncio.timeout(5), openings.hold():  # the place came back
        pass


async def test_a_waiter_cancelled_as_it_is_handed_the_place_passes_it_on() -> None:
    openings = Openings(1)
    order: list[str] = []
    first = openings.hold()
    await first.__aenter__()
    handed = asyncio.create_task(_enter(openings, "handed", order, answered=False))
    later = asyncio.create_task(_enter(openings, "later", order, answered=False))
    await asyncio.sleep(0)
    await first.__aexit__(None, None, None)  # the place goes to `handed`...
    handed.cancel()  # ...which is cancelled before it runs again
    with pytest.raises(asyncio.CancelledError):
        await handed
    async with asyncio.timeout(5):
        await later
    assert order == ["later"]
