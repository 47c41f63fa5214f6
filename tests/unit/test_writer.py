"""The coalescing progress writer, against an in-memory run store."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import pytest

from progress_sse.jobs.writer import Draft, ProgressWriter
from progress_sse.runs.events import RunEvent
from progress_sse.runs.store import LeaseLost, Requests, RunStore


class FakeStore:
    """Records every `write_progress` call; can fail or request a cancel."""

    def __init__(self, fail: BaseException | None = None, cancel: bool = False) -> None:
        self.calls: list[tuple[list[RunEvent], dict[str, Any], list[dict[str, Any]]]] = []
        self.fail = fail
        self.cancel = cancel
        self.failures = 0
        self.during_write: list[ProgressWriter] = []

    async def write_progress(
        self,
        run_id: str,
        lease: str,
        events: Sequence[RunEvent],
        run_values: dict[str, Any],
        steps: Sequence[dict[str, Any]],
    ) -> Requests:
        assert (run_id, lease) == ("r", "lease-1")
        if self.fail is not None:
            fail, self.fail = self.fail, None
            self.failures += 1
            raise fail
        self.calls.append((list(events), dict(run_values), list(steps)))
        return Requests(cancel=self.cancel)

    @property
    def events(self) -> list[RunEvent]:
        return [e for call in self.calls for e in call[0]]


class Published:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.calls: list[list[str]] = []  # the messages of each publish: one delivery each

    async def __call__(self, run_id: str, events: list[RunEvent]) -> None:
        assert run_id == "r"
        self.events.extend(events)
        self.calls.append(messages(events))


def make(
    store: FakeStore,
    published: Published,
    *,
    seq: int = 0,
    interval_s: float = 10.0,
    heartbeat_s: float = 10.0,
    job: Job | None = None,
) -> ProgressWriter:
    """A writer; with `job`, it snapshots that job's state at each write."""
    writer = ProgressWriter(
        cast(RunStore, store),
        published,
        run_id="r",
        lease="lease-1",
        seq=seq,
        interval_s=interval_s,
        heartbeat_s=heartbeat_s,
        snapshot=job.snapshot if job is not None else None,
    )
    if job is not None:
        job.writer = writer
    return writer


def draft(message: str, run_values: dict[str, Any] | None = None, step: Any = None) -> Draft:
    return Draft({"run_id": "r", "seq": 0, "message": message}, run_values or {}, step)


class Job:
    """Stands in for a job context: ticks change `message`, snapshots read it."""

    def __init__(self) -> None:
        self.writer: ProgressWriter | None = None  # set by `make`
        self.message = ""
        self.run_values: dict[str, Any] = {}
        self.snapshots = 0

    def snapshot(self) -> Draft:
        self.snapshots += 1
        return draft(self.message, dict(self.run_values))

    def tick(self, message: str, **run_values: Any) -> None:
        assert self.writer is not None
        self.message = message
        self.run_values = run_values
        self.writer.mark_dirty()


def messages(events: list[RunEvent]) -> list[str]:
    return [e.data["message"] for e in events]


def assert_consecutive(events: list[RunEvent], first: int) -> None:
    assert [e.seq for e in events] == list(range(first, first + len(events)))
    assert all(e.data["seq"] == e.seq for e in events)


async def test_ten_thousand_ticks_become_a_few_writes_ending_with_the_newest() -> None:
    store, published = FakeStore(), Published()
    job = Job()
    writer = make(store, published, seq=3, job=job)
    writer.start()
    for i in range(10_000):
        job.tick(f"tick {i}", percentage=i / 100)
        if i % 500 == 0:
            await asyncio.sleep(0)  # let the writer's loop run as it would in a real job
    await writer.close()
    assert 1 <= len(store.calls) <= 5
    assert job.snapshots == len(store.events), "a snapshot is built per write, not per tick"
    assert writer.writes == len(store.calls)
    assert messages(store.events)[-1] == "tick 9999"
    assert store.calls[-1][1] == {"percentage": 99.99}
    assert_consecutive(store.events, 4)
    assert writer.seq == 3 + len(store.events)
    assert published.events == store.events


async def test_milestones_are_never_coalesced_away() -> None:
    store, published = FakeStore(), Published()
    job = Job()
    writer = make(store, published, seq=7, job=job)
    job.tick("tick 1")
    job.tick("tick 2")
    writer.offer_milestone(draft("A"))
    job.tick("tick 3")
    writer.offer_milestone(draft("B"))
    job.tick("tick 4")
    job.tick("tick 5")
    await writer.close()
    # a milestone is newer than the ticks before it; ticks after it conflate to the newest
    assert messages(store.events) == ["A", "B", "tick 5"]
    assert_consecutive(store.events, 8)
    assert published.events == store.events


async def test_a_milestone_after_a_quiet_spell_makes_the_writer_due_at_once() -> None:
    writer = make(FakeStore(), Published())
    assert not writer.due
    writer.offer_milestone(draft("A"))
    assert writer.due


async def test_right_after_a_write_a_milestone_waits_for_the_interval_too() -> None:
    """At most one write per interval (≤ 10/s by default), step changes included."""
    store = FakeStore()
    writer = make(store, Published(), interval_s=10.0)
    await writer.flush()
    for name in "ABCDE":  # a burst: one step ends, the next starts, ...
        writer.offer_milestone(draft(name))
    assert not writer.due
    await writer.close()
    assert len(store.calls) == 2, "the whole burst went in one write"
    assert messages(store.events) == list("ABCDE")


async def test_a_tick_is_due_only_after_the_interval() -> None:
    job = Job()
    writer = make(FakeStore(), Published(), interval_s=10.0, job=job)
    await writer.flush()
    job.tick("t")
    assert not writer.due


async def test_the_writer_sets_seq_without_changing_the_offered_dict() -> None:
    store = FakeStore()
    writer = make(store, Published(), seq=41)
    offered = draft("m")
    writer.offer_milestone(offered)
    await writer.flush()
    assert store.events[0].data == {"run_id": "r", "seq": 42, "message": "m"}
    assert offered.data["seq"] == 0


async def test_a_failed_write_keeps_the_drafts_for_the_next_flush_without_a_gap() -> None:
    store, published = FakeStore(fail=RuntimeError("database is locked")), Published()
    job = Job()
    writer = make(store, published, seq=10, job=job)
    writer.offer_milestone(draft("A", {"message": "A"}, {"index": 1, "status": "x"}))
    job.tick("tick", percentage=40)
    with pytest.raises(RuntimeError):
        await writer.flush()
    assert (store.failures, store.calls, published.events, writer.seq) == (1, [], [], 10)
    job.tick("newer tick", percentage=45)
    await writer.flush()
    events, run_values, steps = store.calls[0]
    assert messages(events) == ["A", "newer tick"], "the tick is re-snapshotted, newest state"
    assert_consecutive(events, 11)
    assert run_values == {"message": "A", "percentage": 45}
    assert steps == [{"index": 1, "status": "x"}]
    assert published.events == events
    assert writer.seq == 12


async def test_the_loop_survives_a_failed_write_and_retries() -> None:
    store = FakeStore(fail=RuntimeError("connection reset"))
    writer = make(store, Published(), seq=0, interval_s=0.0, heartbeat_s=0.001)
    writer.start()
    writer.offer_milestone(draft("A"))
    for _ in range(200):
        if store.events:
            break
        await asyncio.sleep(0.001)
    await writer.close()
    assert store.failures == 1
    assert messages(store.events) == ["A"]
    assert_consecutive(store.events, 1)


async def test_a_true_answer_from_the_store_sets_cancel_requested() -> None:
    store = FakeStore(cancel=True)
    writer = make(store, Published())
    assert not writer.cancel_requested
    await writer.flush()
    assert writer.cancel_requested


async def test_cancel_requested_stays_set_once_seen() -> None:
    store = FakeStore(cancel=True)
    writer = make(store, Published())
    await writer.flush()
    store.cancel = False
    await writer.flush()
    assert writer.cancel_requested


async def test_lease_lost_in_the_loop_stops_the_writer() -> None:
    store, published = FakeStore(fail=LeaseLost("r")), Published()
    writer = make(store, published, interval_s=0.0)
    writer.start()
    writer.offer_milestone(draft("A"))
    for _ in range(100):
        if writer.lease_lost:
            break
        await asyncio.sleep(0.001)
    assert writer.lease_lost
    await writer.close()  # no last flush for a run that is no longer ours
    assert store.failures == 1
    assert store.calls == []
    assert published.events == []


async def test_step_rows_keep_the_newest_state_per_index() -> None:
    store = FakeStore()
    writer = make(store, Published())
    writer.queue_step({"index": 0, "status": "pending"})
    writer.queue_step({"index": 1, "status": "pending"})
    writer.offer_milestone(draft("A", step={"index": 0, "status": "in_progress"}))
    await writer.flush()
    assert store.calls[0][2] == [
        {"index": 0, "status": "in_progress"},
        {"index": 1, "status": "pending"},
    ]


async def test_an_idle_flush_is_a_heartbeat_that_publishes_nothing() -> None:
    store, published = FakeStore(), Published()
    writer = make(store, published, seq=5)
    await writer.flush()
    assert store.calls == [([], {}, [])]
    assert published.events == []
    assert writer.seq == 5


async def test_a_milestone_offered_during_a_failed_write_keeps_its_order() -> None:
    """A write can fail while the job goes on; order must survive the retry."""
    writer: ProgressWriter

    class FailingWhileJobRuns(FakeStore):
        async def write_progress(self, *args: Any) -> Requests:
            if self.fail is not None:
                writer.offer_milestone(draft("B"))  # the job moved on meanwhile
                job.message = "after B"
            return await super().write_progress(*args)

    store = FailingWhileJobRuns(fail=RuntimeError("database is locked"))
    job = Job()
    writer = make(store, Published(), job=job)
    writer.offer_milestone(draft("A"))
    job.tick("tick")
    with pytest.raises(RuntimeError):
        await writer.flush()
    await writer.flush()
    assert messages(store.events) == ["A", "B", "after B"]


async def test_a_tick_after_close_writes_nothing_more() -> None:
    """A lock wait shown while the ending's transaction waits (the run then ends) must not
    flush to a run that has ended: the terminal write is the record."""
    store, published = FakeStore(), Published()
    job = Job()
    writer = make(store, published, job=job)
    writer.start()
    job.tick("working")
    await writer.close()
    written = len(store.calls)
    job.tick("Waiting for locks held by another transaction")
    await writer.close()  # the runner closes again before its terminal write
    assert len(store.calls) == written == 1
    assert messages(store.events) == ["working"]


class GatedStore(FakeStore):
    """Each write waits until the test opens its gate; `entered` says one is in flight."""

    def __init__(self, lose_lease_on: int | None = None, fail_on: int | None = None) -> None:
        super().__init__()
        self.gates: list[asyncio.Event] = []
        self.lose_lease_on = lose_lease_on  # the write (1-based) that finds the lease gone
        self.fail_on = fail_on  # the write (1-based) that fails (a lost connection, say)

    async def write_progress(self, *args: Any) -> Requests:
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if len(self.gates) == self.lose_lease_on:
            raise LeaseLost("r")
        if len(self.gates) == self.fail_on:
            raise RuntimeError("connection lost")
        return await super().write_progress(*args)

    async def started(self, writes: int) -> None:
        """Wait until the `writes`-th write is in flight."""
        for _ in range(1000):  # bounded: a write starts within a few loop turns
            if len(self.gates) >= writes:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"write {writes} never started")

    async def open_next(self) -> None:
        """Wait for the next write to be in flight, then let it commit."""
        for _ in range(5000):  # bounded: a write starts within a few turns (or a retry's pause)
            if self.gates and not self.gates[-1].is_set():
                self.gates[-1].set()
                return
            await asyncio.sleep(0.001)
        raise AssertionError("no write started")


async def test_a_burst_of_step_changes_is_shown_in_one_delivery_after_both_writes() -> None:
    """Step changes offered while a write commits go in the next write at once; the first
    write's events wait for it, so every watcher gets the burst in one socket write."""
    store, published = GatedStore(), Published()
    writer = make(store, published, interval_s=0.0)
    writer.start()
    writer.offer_milestone(draft("init"))
    await store.started(1)
    writer.offer_milestone(draft("prepare"))  # offered while "init" is being written
    writer.offer_milestone(draft("load"))
    await store.open_next()
    assert published.calls == [], "held: the next write follows at once"
    await store.open_next()
    await writer.close()
    assert [messages(events) for events, _, _ in store.calls] == [["init"], ["prepare", "load"]]
    assert published.calls == [["init", "prepare", "load"]]
    assert_consecutive(published.events, 1)


async def test_events_are_held_for_one_write_at_most() -> None:
    store, published = GatedStore(), Published()
    writer = make(store, published, interval_s=0.0)
    writer.start()
    writer.offer_milestone(draft("A"))
    await store.started(1)
    writer.offer_milestone(draft("B"))
    await store.open_next()  # A committed, held for B's write
    await store.started(2)
    writer.offer_milestone(draft("C"))  # offered while B is written
    await store.open_next()  # B committed: A and B are shown now, not held again
    await store.started(3)
    assert published.calls == [["A", "B"]]
    await store.open_next()
    await writer.close()
    assert published.calls == [["A", "B"], ["C"]]


async def test_nothing_is_held_when_the_next_write_must_wait_for_its_interval() -> None:
    store, published = GatedStore(), Published()
    writer = make(store, published, interval_s=10.0)
    writer.start()
    writer.offer_milestone(draft("A"))
    await store.started(1)
    writer.offer_milestone(draft("B"))
    await store.open_next()
    for _ in range(10):
        await asyncio.sleep(0)
    assert published.calls == [["A"]], "shown at once: B's write waits for the interval"
    close = asyncio.create_task(writer.close())
    await store.open_next()
    await close
    assert published.calls == [["A"], ["B"]]


async def test_held_events_are_shown_even_when_the_next_write_finds_the_lease_lost() -> None:
    """What was committed while the lease was ours is stored: watchers see it."""
    store, published = GatedStore(lose_lease_on=2), Published()
    writer = make(store, published, interval_s=0.0)
    writer.start()
    writer.offer_milestone(draft("A"))
    await store.started(1)
    writer.offer_milestone(draft("B"))
    await store.open_next()
    await store.open_next()  # B's write finds the lease gone
    for _ in range(100):
        if writer.lease_lost:
            break
        await asyncio.sleep(0)
    assert writer.lease_lost
    assert published.calls == [["A"]]
    await writer.close()
    assert published.calls == [["A"]]


async def test_held_events_are_shown_at_once_when_the_next_write_fails() -> None:
    """A failed write is retried a second later: what was committed before is not kept back."""
    store, published = GatedStore(fail_on=2), Published()
    writer = make(store, published, interval_s=0.0, heartbeat_s=0.01)  # retries after 10 ms
    writer.start()
    writer.offer_milestone(draft("A"))
    await store.started(1)
    writer.offer_milestone(draft("B"))
    await store.open_next()  # A committed, held for B's write
    await store.open_next()  # B's write fails
    for _ in range(100):  # bounded: shown as the failure is handled
        if published.calls:
            break
        await asyncio.sleep(0)
    assert published.calls == [["A"]]
    await store.open_next()  # B again: the retry
    await writer.close()
    assert [m for call in published.calls for m in call] == ["A", "B"]
    assert_consecutive(published.events, 1)
