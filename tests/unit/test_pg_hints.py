"""LISTEN hints: parsing, and this process's own NOTIFYs read only if never delivered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from progress_sse.runs.events import RunEvent
from progress_sse.runs.notify import encode_notice
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


class Writes:
    """A caught-up watcher's connection: each write it was given."""

    last_write = 0.0

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def write_now(self, body: bytes) -> bool:
        self.bodies.append(body)
        return True


@contextlib.contextmanager
def attached(broker: PgBroker) -> Iterator[Writes]:
    writes = Writes()
    with broker.hub.subscribe("r1") as sub:
        sub.attach(writes)
        broker.hub.ready("r1", 1)
        yield writes


async def test_events_carried_by_another_processs_notify_cost_no_read() -> None:
    reads: list[int] = []
    with watched_run(reads) as broker, attached(broker) as writes:
        broker._on_notify(None, 0, "", encode_notice([event(2)], "theirs"))
        await asyncio.sleep(0.01)
    assert writes.bodies == [event(2).frame]
    assert reads == []


async def test_notifies_that_arrive_together_reach_a_watcher_as_one_write() -> None:
    reads: list[int] = []
    with watched_run(reads) as broker, attached(broker) as writes:
        for seq in (2, 3, 4):  # asyncpg read them in one go: one callback each, same turn
            broker._on_notify(None, 0, "", encode_notice([event(seq)], "theirs"))
        await asyncio.sleep(0.01)
    assert writes.bodies == [event(2).frame + event(3).frame + event(4).frame]
    assert reads == []


async def test_a_notify_after_a_gap_reads_the_table_from_where_the_watcher_is() -> None:
    reads: list[int] = []
    with watched_run(reads) as broker, attached(broker) as writes:
        broker._on_notify(None, 0, "", encode_notice([event(3)], "theirs"))  # 2 was missed
        await asyncio.sleep(0.01)
    assert reads[:1] == [1]
    assert b"".join(writes.bodies) == event(2).frame  # the table here holds 1 and 2


@pytest.mark.usefixtures("short_delay")
async def test_our_own_carried_events_are_delivered_from_the_payload_if_never_published() -> None:
    reads: list[int] = []
    with watched_run(reads) as broker, attached(broker) as writes:
        broker._on_notify(None, 0, "", encode_notice([event(2)], "mine"))
        await asyncio.sleep(0.01)
        assert writes.bodies == []  # set aside: `publish` should deliver it
        await asyncio.sleep(0.05)
    assert writes.bodies == [event(2).frame]
    assert reads == []
