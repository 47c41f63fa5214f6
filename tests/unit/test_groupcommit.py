"""Group commit: writes ready at once share a transaction, each keeps its own fence and fate."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from progress_sse.jobs.groupcommit import GroupCommit
from progress_sse.runs.events import RunEvent
from progress_sse.runs.store import LeaseLost, ProgressWrite, Requests, RowBusy


class Transactions:
    """A stand-in run store: records each transaction's writes; a gate holds the next one."""

    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.attempts: list[list[str]] = []
        self.lost: set[str] = set()  # runs whose lease was taken
        self.broken: set[str] = set()  # runs whose write raises (a hook's bug, say)
        self.held: dict[str, asyncio.Event] = {}  # runs whose row another transaction holds
        self.cancel: set[str] = set()
        self.gate: asyncio.Event | None = None
        self.entered = asyncio.Event()

    async def write_progress_many(
        self, writes: Sequence[ProgressWrite], *, skip_locked: bool = False
    ) -> list[Requests | LeaseLost | RowBusy]:
        runs = [w.run_id for w in writes]
        if not skip_locked and len(runs) == 1 and runs[0] in self.held:  # waits for its row
            await self.held[runs[0]].wait()
        self.attempts.append(runs)
        self.entered.set()
        if self.gate is not None and len(self.attempts) == 1:  # holds the first transaction
            await self.gate.wait()
        if broken := self.broken.intersection(runs):
            raise RuntimeError(f"write of {sorted(broken)} failed")  # the whole transaction
        # SKIP LOCKED: a held row is skipped, not waited for.
        busy = {w.run_id for w in writes if w.run_id in self.held} if skip_locked else set()
        self.committed.append([r for r in runs if r not in busy])
        return [
            RowBusy(w.run_id)
            if w.run_id in busy
            else LeaseLost(w.run_id)
            if w.run_id in self.lost
            else Requests(w.run_id in self.cancel)
            for w in writes
        ]


def event(run_id: str, seq: int) -> RunEvent:
    return RunEvent(run_id, seq, None, {"run_id": run_id, "seq": seq})


def write(group: GroupCommit, run_id: str) -> asyncio.Task[Requests]:
    return asyncio.create_task(group.write_progress(run_id, "lease", [event(run_id, 1)], {}, []))


async def behind_a_commit(
    store: Transactions, group: GroupCommit, runs: str
) -> tuple[asyncio.Task[Requests], list[asyncio.Task[Requests]]]:
    """Run "a"'s write into a transaction held at the store's gate, then queue `runs`'
    writes behind it; the test opens `store.gate` when it wants "a" committed."""
    store.gate = asyncio.Event()
    first = write(group, "a")
    await store.entered.wait()  # "a" is being committed
    queued = [write(group, run_id) for run_id in runs]
    await asyncio.sleep(0)  # they queue behind it
    return first, queued


async def test_a_lone_write_is_committed_at_once_in_its_own_transaction() -> None:
    store = Transactions()
    group = GroupCommit(store)
    assert await group.write_progress("a", "lease", [event("a", 1)], {"percentage": 5}, []) == (
        Requests()
    )
    assert store.committed == [["a"]]


async def test_writes_that_arrive_during_a_commit_share_the_next_transaction() -> None:
    store = Transactions()
    group = GroupCommit(store)
    first, others = await behind_a_commit(store, group, "bcd")
    store.gate.set()
    await asyncio.gather(first, *others)
    assert store.committed == [["a"], ["b", "c", "d"]]
    assert group.groups == 2 and group.largest == 3


async def test_a_run_that_lost_its_lease_fails_alone_and_its_neighbours_are_written() -> None:
    store = Transactions()
    store.lost = {"c"}
    store.cancel = {"b"}
    group = GroupCommit(store)
    first, (b, c, d) = await behind_a_commit(store, group, "bcd")
    store.gate.set()
    await first
    assert await b == Requests(cancel=True), "each write gets its own run's answer"
    with pytest.raises(LeaseLost):
        await c
    assert await d == Requests()
    assert store.committed == [["a"], ["b", "c", "d"]], "one transaction; the fence is per run"


async def test_a_failing_write_is_found_by_trying_each_alone() -> None:
    store = Transactions()
    store.broken = {"c"}
    group = GroupCommit(store)
    first, (b, c, d) = await behind_a_commit(store, group, "bcd")
    store.gate.set()
    await first
    with pytest.raises(RuntimeError, match="'c'"):
        await c
    assert await b == Requests() and await d == Requests()
    assert store.attempts == [["a"], ["b", "c", "d"], ["b"], ["c"], ["d"]]
    assert store.committed == [["a"], ["b"], ["d"]]


async def test_a_write_cancelled_before_its_turn_is_never_written() -> None:
    store = Transactions()
    group = GroupCommit(store)
    first, (b, c) = await behind_a_commit(store, group, "bc")
    b.cancel()
    await asyncio.sleep(0)
    store.gate.set()
    await first
    await c
    assert b.cancelled()
    assert store.committed == [["a"], ["c"]]


async def test_groups_are_bounded_in_size() -> None:
    store = Transactions()
    group = GroupCommit(store, max_group=2)
    first, rest = await behind_a_commit(store, group, "bcdef")
    store.gate.set()
    await asyncio.gather(first, *rest)
    assert store.committed == [["a"], ["b", "c"], ["d", "e"], ["f"]]


async def test_writers_waiting_on_a_group_are_not_left_hanging_if_the_committer_is_cancelled() -> (
    None
):
    store = Transactions()
    group = GroupCommit(store)
    first, (second,) = await behind_a_commit(store, group, "b")  # the gate is never opened
    committing = group._committing  # the test's own object's task, not a library's
    assert committing is not None
    committing.cancel()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert store.committed == []


async def test_a_run_whose_row_is_held_waits_alone_and_stalls_no_other_run() -> None:
    store = Transactions()
    released = asyncio.Event()
    store.held = {"b": released}
    group = GroupCommit(store)
    first, (b, c) = await behind_a_commit(store, group, "bc")
    store.gate.set()
    await first
    assert await c == Requests(), "c is answered while b's row is still held"
    later = write(group, "d")
    assert await later == Requests(), "the next group does not wait for b either"
    assert not b.done()
    released.set()
    assert await b == Requests()
    assert store.committed == [["a"], ["c"], ["d"], ["b"]]
