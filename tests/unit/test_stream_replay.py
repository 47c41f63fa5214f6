"""The stream's own task: replay from Last-Event-ID in pages, and stop when nobody reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from progress_sse.runs.events import END, RunEvent
from progress_sse.runs.statuses import EventName
from progress_sse.runs.store import RunStore
from progress_sse.streaming.hub import Hub
from progress_sse.streaming.openings import Openings
from progress_sse.streaming.sse import Connection
from progress_sse.streaming.wake import Wake
from progress_sse.web.api.stream import write_stream


def event(seq: int, terminal: bool = False) -> RunEvent:
    return RunEvent("r1", seq, EventName.COMPLETE if terminal else None, {"seq": seq})


@dataclass
class Row:
    seq: int
    status: str


class TableStore:
    """The event table of one finished run: seqs 1..n, the last one `complete`."""

    def __init__(self, n: int) -> None:
        self.events = [event(seq, terminal=seq == n) for seq in range(1, n + 1)]
        self.pages: list[int] = []

    async def get_run_any_tenant(self, _run_id: str) -> Row:
        return Row(self.events[-1].seq, "completed")

    async def last_event(self, _run_id: str) -> RunEvent:
        return self.events[-1]

    async def events_after(self, _run_id: str, after: int, limit: int) -> list[RunEvent]:
        self.pages.append(after)
        return [e for e in self.events if e.seq > after][:limit]


class Client:
    """A connection that records what was written; it can leave after some writes."""

    def __init__(self, leaves_after: int | None = None) -> None:
        self.written: list[bytes] = []
        self.leaves_after = leaves_after
        self.disconnected = False
        self.busy = False
        self.wake = Wake()
        self.last_write = 0.0

    async def write(self, body: bytes) -> None:
        self.written.append(body)
        if self.leaves_after is not None and len(self.written) >= self.leaves_after:
            self.disconnected = True

    async def settled(self) -> None:
        return None

    def write_now(self, body: bytes) -> bool:
        self.written.append(body)
        return True


async def stream(store: TableStore, client: Client, last_id: int | None) -> None:
    await write_stream(
        cast(Connection, client), cast(RunStore, store), Hub(8), "r1", last_id,
        retry_ms=3000, page=10, openings=Openings(1),
    )  # fmt: skip


async def test_a_reconnect_replays_everything_after_its_last_id_in_pages_then_ends() -> None:
    store, client = TableStore(35), Client()
    await stream(store, client, last_id=4)
    frames = client.written[1:]  # after `retry:`
    assert frames == [e.frame for e in store.events[4:-1]] + [store.events[-1].frame + END]
    assert store.pages == [4, 14, 24, 34]


async def test_a_fresh_watcher_of_a_finished_run_gets_the_terminal_event_and_end() -> None:
    store, client = TableStore(35), Client()
    await stream(store, client, last_id=None)
    assert client.written[1:] == [store.events[-1].frame + END]
    assert store.pages == []


async def test_a_replay_stops_reading_the_table_once_the_client_has_left() -> None:
    store, client = TableStore(35), Client(leaves_after=3)  # `retry:` and two events
    await stream(store, client, last_id=0)
    assert len(client.written) == 3
    assert store.pages == [0], "no further pages for a client that is gone"
