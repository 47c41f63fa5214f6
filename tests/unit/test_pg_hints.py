"""LISTEN hints: parsing, and this process's own NOTIFYs read only if never delivered."""

from __future__ import annotations

import asyncio

import pytest

from progress_sse import pg_broker
from progress_sse.events import RunEvent
from progress_sse.fanout import Hub
from progress_sse.pg_broker import PgBroker, parse_hint


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


def hub_reading_into(reads: list[int]) -> Hub:
    async def fetch(_run_id: str, after: int) -> list[RunEvent]:
        reads.append(after)
        return [event(seq) for seq in range(after + 1, 3)]  # the table holds seqs 1 and 2

    return Hub(8, fetch=fetch)


async def test_a_hint_from_another_process_is_read_from_the_table_at_once() -> None:
    reads: list[int] = []
    hub = hub_reading_into(reads)
    broker = PgBroker(hub, "postgresql://unused", origin="mine")
    with hub.subscribe("r1"):
        hub.ready("r1", 1)
        broker._on_notify(None, 0, "", "r1:2:theirs")
        await asyncio.sleep(0.01)
    assert reads == [1, 2]  # from where it was, until caught up


async def test_our_own_hint_costs_no_read_when_the_event_was_delivered_directly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg_broker, "OWN_HINT_DELAY_S", 0.02)
    reads: list[int] = []
    hub = hub_reading_into(reads)
    broker = PgBroker(hub, "postgresql://unused", origin="mine")
    with hub.subscribe("r1"):
        hub.ready("r1", 1)
        broker._on_notify(None, 0, "", "r1:2:mine")  # the NOTIFY overtook our publish
        await broker.publish("r1", [event(2)])
        await asyncio.sleep(0.05)
    assert reads == []


async def test_our_own_hint_is_read_later_if_the_direct_delivery_never_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pg_broker, "OWN_HINT_DELAY_S", 0.02)
    reads: list[int] = []
    hub = hub_reading_into(reads)
    broker = PgBroker(hub, "postgresql://unused", origin="mine")
    with hub.subscribe("r1"):
        hub.ready("r1", 1)
        broker._on_notify(None, 0, "", "r1:2:mine")  # its publisher was cancelled
        await asyncio.sleep(0.01)
        assert reads == []
        await asyncio.sleep(0.05)
    assert reads == [1, 2]  # from where it was, until caught up
