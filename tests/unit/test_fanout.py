"""Per-watcher buffers (conflation, bound, lag) and the per-run hub."""

from __future__ import annotations

import pytest

from progress_sse.runs.events import END, PING, RunEvent
from progress_sse.runs.statuses import EventName
from progress_sse.streaming.hub import MAX_WRITE_IN_PLACE, Hub, HubStats, Subscriber


def tick(seq: int, step: int | None = 0, status: str = "in_progress") -> RunEvent:
    data: dict[str, object] = {"seq": seq}
    if step is not None:
        data["step"] = {"index": step, "status": status, "name": f"s{step}"}
    return RunEvent("r1", seq, None, data)


def named(seq: int, name: EventName = EventName.COMPLETE) -> RunEvent:
    return RunEvent("r1", seq, name, {"seq": seq})


def seqs(events: list[RunEvent]) -> list[int]:
    return [e.seq for e in events]


# -- Subscriber ---------------------------------------------------------------


async def test_ticks_of_the_same_step_state_conflate_to_the_newest() -> None:
    stats = HubStats()
    sub = Subscriber(8, stats)
    for seq in range(1, 6):
        sub.push(tick(seq))
    assert len(sub) == 1
    assert seqs(sub.drain()) == [5]
    assert stats.conflated == 4


async def test_ticks_without_a_step_conflate_too() -> None:
    sub = Subscriber(8, HubStats())
    sub.push(tick(1, step=None))
    sub.push(tick(2, step=None))
    assert seqs(sub.drain()) == [2]


async def test_a_step_change_keeps_the_last_tick_of_the_previous_state() -> None:
    sub = Subscriber(8, HubStats())
    for event in [tick(1), tick(2), tick(3, status="completed"), tick(4, step=1), tick(5, step=1)]:
        sub.push(event)
    assert seqs(sub.drain()) == [2, 3, 5]


async def test_named_events_are_always_queued_and_flush_the_pending_tick() -> None:
    sub = Subscriber(8, HubStats())
    sub.push(tick(1))
    sub.push(named(2, EventName.ERROR))
    sub.push(named(3, EventName.END))
    sub.push(tick(4))
    assert seqs(sub.drain()) == [1, 2, 3, 4]


async def test_a_tick_after_a_named_event_is_not_conflated_into_it() -> None:
    sub = Subscriber(8, HubStats())
    sub.push(named(1))
    sub.push(tick(2))
    sub.push(tick(3))
    assert seqs(sub.drain()) == [1, 3]


async def test_drain_returns_oldest_first_and_empties_the_buffer() -> None:
    stats = HubStats()
    sub = Subscriber(8, stats)
    for event in [tick(1), tick(2, step=1), named(3), tick(4, step=2)]:
        sub.push(event)
    drained = sub.drain()
    assert seqs(drained) == sorted(seqs(drained)) == [1, 2, 3, 4]
    assert len(sub) == 0
    assert sub.drain() == []
    assert stats.delivered == 4


async def test_push_sets_wake_and_drain_clears_it() -> None:
    sub = Subscriber(8, HubStats())
    assert not sub.wake.is_set()
    sub.push(tick(1))
    assert sub.wake.is_set()
    sub.drain()
    assert not sub.wake.is_set()


async def test_more_than_bound_queued_events_mark_the_watcher_lagged() -> None:
    stats = HubStats()
    sub = Subscriber(4, stats)
    for seq in range(1, 5):
        sub.push(named(seq))
    assert not sub.lagged
    assert len(sub) == 4
    sub.push(named(5))
    assert sub.lagged
    assert len(sub) == 0
    assert stats.lagged == 1


async def test_buffer_never_holds_more_than_bound_plus_one() -> None:
    bound = 4
    sub = Subscriber(bound, HubStats())
    for seq in range(1, 200):
        # alternate step states so nothing conflates
        sub.push(tick(seq, step=seq % 2) if seq % 3 else named(seq))
        assert len(sub) <= bound + 1
    assert sub.high_water == bound + 1
    assert sub.lagged


async def test_a_lagged_watcher_stops_queueing_until_reset() -> None:
    sub = Subscriber(2, HubStats())
    for seq in range(1, 4):
        sub.push(named(seq))
    assert sub.lagged
    sub.push(named(4))
    assert len(sub) == 0
    sub.reset_lag()
    assert not sub.lagged
    sub.push(named(5))
    assert seqs(sub.drain()) == [5]


async def test_reset_lag_drops_the_pending_tick() -> None:
    sub = Subscriber(2, HubStats())
    sub.push(tick(1))
    sub.reset_lag()
    assert len(sub) == 0
    assert sub.drain() == []


# -- Hub ----------------------------------------------------------------------


async def test_subscribe_adds_a_channel_and_removes_it_with_the_last_watcher() -> None:
    hub = Hub(buffer_bound=8)
    with hub.subscribe("r1") as first:
        assert "r1" in hub.channels
        with hub.subscribe("r1") as second:
            assert first is not second
            assert hub.watchers == 2
            assert len(hub.channels) == 1
        assert hub.watchers == 1
        assert "r1" in hub.channels
    assert hub.watchers == 0
    assert hub.channels == {}


async def test_subscribe_cleans_up_when_the_body_raises() -> None:
    hub = Hub(buffer_bound=8)
    try:
        with hub.subscribe("r1"):
            raise RuntimeError("client went away")
    except RuntimeError:
        pass
    assert hub.channels == {}


async def test_deliver_reaches_every_watcher_of_the_run_only() -> None:
    hub = Hub(buffer_bound=8)
    with hub.subscribe("r1") as a, hub.subscribe("r1") as b, hub.subscribe("r2") as other:
        hub.deliver("r1", [tick(1), named(2)])
        assert seqs(a.drain()) == [1, 2]
        assert seqs(b.drain()) == [1, 2]
        assert other.drain() == []
        assert hub.watchers == 3


async def test_deliver_skips_events_already_delivered() -> None:
    hub = Hub(buffer_bound=8)
    with hub.subscribe("r1") as sub:
        hub.deliver("r1", [tick(1, step=0), tick(2, step=1)])
        hub.deliver("r1", [tick(2, step=1), tick(1, step=0), named(3)])
        assert seqs(sub.drain()) == [1, 2, 3]
        assert hub.channels["r1"].last_seq == 3


async def test_deliver_to_a_run_nobody_watches_is_a_no_op() -> None:
    hub = Hub(buffer_bound=8)
    hub.deliver("r1", [tick(1)])
    assert hub.channels == {}
    assert hub.watchers == 0


# -- writing in place -----------------------------------------------------------


class FakeSink:
    """A connection that records writes; `accept=False` makes a write wait (flow control)."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self.written: list[bytes] = []
        self.last_write = 0.0

    def write_now(self, body: bytes) -> bool:
        self.written.append(body)
        return self.accept


async def test_a_caught_up_watcher_gets_each_event_written_in_place_without_buffering() -> None:
    sub = Subscriber(8, HubStats())
    sink = FakeSink()
    sub.attach(sink)
    sub.push(tick(1))
    sub.push(tick(2))
    assert sink.written == [tick(1).frame, tick(2).frame]
    assert len(sub) == 0 and sub.sent == 2 and not sub.wake.is_set()


async def test_the_terminal_event_goes_with_end_and_hands_the_stream_back() -> None:
    sub = Subscriber(8, HubStats())
    sink = FakeSink()
    sub.attach(sink)
    sub.push(named(3))
    assert sink.written == [named(3).frame + END]
    assert sub.finished and sub.sink is None and sub.wake.is_set()


async def test_a_write_that_must_wait_sends_the_next_events_to_the_buffer() -> None:
    sub = Subscriber(8, HubStats())
    sink = FakeSink(accept=False)
    sub.attach(sink)
    sub.push(tick(1))  # handed to the connection; it finishes later
    sub.push(tick(2, status="completed"))
    assert sink.written == [tick(1).frame]
    assert sub.sink is None and sub.wake.is_set()
    assert seqs(sub.drain()) == [2]


async def test_events_at_or_below_sent_are_not_written_again() -> None:
    sub = Subscriber(8, HubStats())
    sub.sent = 5  # the snapshot the stream read was seq 5
    sink = FakeSink()
    sub.attach(sink)
    sub.push(tick(5))
    sub.push(tick(6))
    assert sink.written == [tick(6).frame]


async def test_attaching_with_events_still_buffered_is_refused() -> None:
    sub = Subscriber(8, HubStats())
    sub.push(tick(1))
    with pytest.raises(RuntimeError):
        sub.attach(FakeSink())


async def test_a_burst_reaches_a_caught_up_watcher_as_one_write() -> None:
    hub = Hub(8)
    with hub.subscribe("r1") as sub:
        sink = FakeSink()
        sub.attach(sink)
        burst = [tick(1), tick(2, status="completed"), tick(3, step=1), named(4)]
        hub.deliver("r1", burst)
    assert sink.written == [b"".join(e.frame for e in burst) + END]
    assert sub.finished and sub.sent == 4


async def test_a_write_too_large_to_buffer_whole_goes_through_the_stream_task() -> None:
    big = RunEvent("r1", 1, None, {"seq": 1, "message": "x" * (MAX_WRITE_IN_PLACE + 1)})
    sub = Subscriber(8, HubStats())
    sink = FakeSink()
    sub.attach(sink)
    sub.push(big)
    assert sink.written == [] and sub.sink is None
    assert seqs(sub.drain()) == [1]


async def test_pings_go_only_to_caught_up_watchers_silent_long_enough() -> None:
    hub = Hub(8)
    with hub.subscribe("r1") as quiet, hub.subscribe("r1") as busy, hub.subscribe("r1"):
        quiet_sink, busy_sink = FakeSink(), FakeSink()
        quiet_sink.last_write, busy_sink.last_write = 10.0, 20.0
        quiet.attach(quiet_sink)
        busy.attach(busy_sink)
        hub.ping_idle(silent_since=15.0)  # the third is not attached: its own task is writing
    assert quiet_sink.written == [PING] and busy_sink.written == []
