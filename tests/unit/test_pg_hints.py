"""LISTEN hints: parsing, and this process's own NOTIFYs read only if never delivered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from progress_sse.runs.events import RunEvent
from progress_sse.streaming import pg_broker
from progress_sse.streaming.hub import Hub
from progress_sse.streaming.pg_broker import PgBroker, parse_hint


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        ("r1:7:abcd", ("r1", 7, "abcd")),
        ("r1:7", ("r1", 7, "")),  # a process from before the origin was added
        ("r1:x:abcd", None),
        ("r1:٣:abcd", None),  # a non-ASCII digit
        (":7:abcd", None),
        ("r1", None),
    ],
)
def test_hint_payloads(payload: str, parsed: tuple[str, int, str] | None) -> None:
    assert parse_hint(payload) == parsed


def event(seq: int) -> RunEvent:
    return RunEvent("r1", seq, None, {"seq": seq})


@contextlib.contextmanager
def watched_run(reads: list[int]) -> Iterator[PgBroker]:
    """A broker of process "mine" whose hub watches r1, caught up to seq 1.

    Every read of the table is recorded in `reads` (as its `after`); the table holds 1 and 2.
    """

    async def fetch(_run_id: str, after: int) -> list[RunEvent]:
        reads.append(after)
        return [event(seq) for seq in range(after + 1, 3)]

    hub = Hub(8, fetch=fetch)
    with hub.subscribe("r1"):
        hub.ready("r1", 1)
        yield PgBroker(hub, "postgresql://unused", origin="mine")


@pytest.fixture
def short_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_broker, "OWN_HINT_DELAY_S", 0.02)


async def test_a_hint_from_another_process_is_read_from_the_table_at_once() -> None:
    reads: list[int] = []
    with watched_run(reads) as broker:
        broker._on_notify(None, 0, "", "r1:2:theirs")
        await asyncio.sleep(0.01)
    assert reads == [1, 2]  # from where it was, until caught up


@pytest.mark.usefixtures("short_delay")
async def test_our_own_hint_costs_no_read_when_the_event_was_delivered_directly() -> None:
    reads: list[int] = []
    with watched_run(reads) as broker:
        broker._on_notify(None, 0, "", "r1:2:mine")  # the NOTIFY overtook our publish
        await broker.publish("r1", [event(2)])
        await asyncio.sleep(0.05)
    assert reads == []


@pytest.mark.usefixtures("short_delay")
async def test_our_own_hint_is_read_later_if_the_direct_delivery_never_came() -> None:
    reads: list[int] = []
    with watched_run(reads) as broker:
        broker._on_notify(None, 0, "", "r1:2:mine")  # its publisher was cancelled
        await asyncio.sleep(0.01)
        assert reads == []
        await asyncio.sleep(0.05)
    assert reads == [1, 2]  # from where it was, until caught up
