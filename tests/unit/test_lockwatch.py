"""Lock watches: one question a poll for every quiet job of the process, answers to each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

from progress_sse.jobs.lockwatch import Blocker, LockWatches

SINCE = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


class Server:
    """Stands in for PostgreSQL: who blocks whom, and every question asked."""

    def __init__(self, blocked: dict[int, Blocker]) -> None:
        self.blocked = blocked
        self.asked: list[list[int]] = []
        self.answered = asyncio.Event()

    async def ask(self, pids: Sequence[int]) -> dict[int, Blocker]:
        self.asked.append(list(pids))
        self.answered.set()
        return {pid: self.blocked[pid] for pid in pids if pid in self.blocked}


async def polls(server: Server, n: int) -> None:
    for _ in range(n):
        server.answered.clear()
        await asyncio.wait_for(server.answered.wait(), 5)


async def test_every_quiet_job_is_asked_about_in_one_query_and_only_quiet_ones() -> None:
    server = Server({11: Blocker(99, "idle in transaction", SINCE, "psql")})
    watches = LockWatches(None, every_s=0.001, ask=server.ask)  # type: ignore[arg-type]
    shown: dict[int, list[str]] = {11: [], 12: [], 13: []}
    quiet = {11: 5.0, 12: 5.0, 13: 0.0}  # 13 keeps reporting: not asked about
    for pid in (11, 12, 13):
        watches.watch(pid, 30, quiet_s=lambda p=pid: quiet[p], show=shown[pid].append)
    await polls(server, 2)
    await watches.aclose()
    assert all(asked == [11, 12] for asked in server.asked), "one query for all quiet jobs"
    assert shown[11] and shown[11][0].startswith(
        "Waiting for locks held by another transaction: PostgreSQL process 99 (psql)"
    )
    assert shown[12] == [] and shown[13] == []


async def test_a_stopped_watch_is_no_longer_asked_about_and_the_poll_ends_with_the_last() -> None:
    server = Server({})
    watches = LockWatches(None, every_s=0.001, ask=server.ask)  # type: ignore[arg-type]
    first = watches.watch(1, 30, quiet_s=lambda: 5.0, show=lambda _m: None)
    second = watches.watch(2, 30, quiet_s=lambda: 5.0, show=lambda _m: None)
    await polls(server, 1)
    await first.stop()
    await polls(server, 1)
    assert server.asked[-1] == [2]
    await second.stop()
    for _ in range(1000):  # bounded: the poll notices within a few turns
        if watches.idle:
            break
        await asyncio.sleep(0.001)
    assert watches.idle, "no watch left: no task left polling"
