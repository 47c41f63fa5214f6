"""Events carried in the NOTIFY payload, on a real PostgreSQL (runs/notify.py).

A writer (`RunStore.insert_events`, as a worker's progress write or a run's
end sends them) and a listening process's `PgBroker` and `Hub` in this test:
what a watcher is written, and how often the listener read the event table.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from progress_sse.runs.events import RunEvent, utc_now
from progress_sse.runs.statuses import EventName
from progress_sse.runs.store import EVENTS, NewRun, RunStore
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.streaming import pg_broker
from progress_sse.streaming.hub import Hub
from progress_sse.streaming.pg_broker import PgBroker, asyncpg_dsn
from progress_sse.web.security.auth import Role, create_key
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="LISTEN/NOTIFY needs PostgreSQL")

HOSTILE = 'say "hi":\n\r\nnext: 1:2:3 \\ \u2028 żółć 日本 😀 </script> \' ; -- :'


@pytest.fixture
def backend() -> str:
    return "postgresql"


class Recorder:
    """A caught-up watcher's connection: keeps every byte it is written."""

    last_write = 0.0

    def __init__(self) -> None:
        self.body = bytearray()

    def write_now(self, body: bytes) -> bool:
        self.body += body
        return True

    def frames(self) -> list[tuple[int, str | None, dict[str, Any]]]:
        """(id, event name, data) of each frame written, in order."""
        out = []
        for block in bytes(self.body).split(b"\n\n"):
            fields = dict(line.split(": ", 1) for line in block.decode().splitlines())
            if "id" in fields:
                out.append((int(fields["id"]), fields.get("event"), json.loads(fields["data"])))
        return out


@dataclass
class Listener:
    """This "process": a hub fed by a PgBroker, every read of the table recorded."""

    hub: Hub
    broker: PgBroker
    reads: list[int] = field(default_factory=list)


@dataclass
class Setup:
    writer: RunStore  # another process's store (its own origin)
    listener: Listener
    sessions: Any

    async def new_run(self) -> str:
        new = NewRun("acme", "demo", {}, secrets.token_hex(4), None, None)
        run, _ = await self.writer.create_run(new)  # seq 1: its first event
        return run.id

    async def write(self, *runs: Sequence[RunEvent], store: RunStore | None = None) -> None:
        """One transaction, one `insert_events` per run (as group commit does)."""
        store = store or self.writer
        async with store.sessions.begin() as session:
            for events in runs:
                await store.insert_events(session, events, utc_now())


@pytest.fixture
async def setup(db_urls: dict[str, str]) -> AsyncIterator[Setup]:
    url = db_urls["database_url"]
    engine = db.create_engine(url, Settings(database_url=url))
    sessions = db.sessionmaker(engine)
    await create_key(sessions, "acme", Role.ADMIN)  # its tenant, which runs belong to
    reader = RunStore(sessions)
    reads: list[int] = []

    async def fetch(run_id: str, after: int) -> list[RunEvent]:
        reads.append(after)
        return await reader.events_after(run_id, after, 500)

    hub = Hub(64, fetch=fetch)
    broker = PgBroker(hub, asyncpg_dsn(url), origin=reader.origin)
    await broker.start()
    try:
        yield Setup(RunStore(sessions), Listener(hub, broker, reads), sessions)
    finally:
        await broker.stop()
        await engine.dispose()


@contextlib.contextmanager
def watching(listener: Listener, run_id: str) -> Any:
    """A caught-up watcher of `run_id` (it has read seq 1 from the table)."""
    recorder = Recorder()
    with listener.hub.subscribe(run_id) as sub:
        sub.attach(recorder)
        listener.hub.ready(run_id, 1)
        yield recorder


async def until(done: Callable[[], bool]) -> None:
    """Wait for `done`, at most 500 turns of 20 ms; the assertions after say what is wrong."""
    for _ in range(500):
        if done():
            return
        await asyncio.sleep(0.02)


def tick(run_id: str, seq: int, message: str = "tick") -> RunEvent:
    return RunEvent(run_id, seq, None, {"seq": seq, "message": message, "percentage": 1.5})


def ids(recorder: Recorder) -> list[int]:
    return [seq for seq, _, _ in recorder.frames()]


async def test_carried_events_are_delivered_in_order_without_reading_the_table(
    setup: Setup,
) -> None:
    run_id = await setup.new_run()
    events = [tick(run_id, 2), tick(run_id, 3), tick(run_id, 4)]
    done = RunEvent(run_id, 5, EventName.COMPLETE, {"seq": 5, "message": "Completed."})
    with watching(setup.listener, run_id) as watcher:
        await setup.write(events[:1])
        await setup.write(events[1:])  # a burst: two events in one NOTIFY
        await setup.write([done])
        await until(lambda: 5 in ids(watcher))
    # Byte for byte what the writer's own process sends, `end` after the terminal event.
    assert (
        bytes(watcher.body)
        == b"".join(e.frame for e in [*events, done]) + b"event: end\ndata: {}\n\n"
    )
    assert setup.listener.reads == []


async def test_events_too_large_for_the_payload_are_read_from_the_table(setup: Setup) -> None:
    run_id = await setup.new_run()
    big = [tick(run_id, seq, "x" * 3000) for seq in (2, 3, 4)]  # 9 KB: over 8,000 bytes
    after = tick(run_id, 5)
    with watching(setup.listener, run_id) as watcher:
        await setup.write(big)
        await until(lambda: 4 in ids(watcher))
        await setup.write([after])  # and then the payload carries them again
        await until(lambda: 5 in ids(watcher))
    assert ids(watcher) == [2, 3, 4, 5]
    assert [data for _, _, data in watcher.frames()] == [dict(e.data) for e in [*big, after]]
    assert setup.listener.reads[:1] == [1], "the hint was read from the table"


async def test_a_missed_notify_is_filled_from_the_table_in_order(setup: Setup) -> None:
    run_id = await setup.new_run()
    missed = tick(run_id, 2, "stored without a NOTIFY")
    with watching(setup.listener, run_id) as watcher:
        async with setup.sessions.begin() as session:
            await _insert_silently(session, missed)
        await setup.write([tick(run_id, 3)])  # carries 3 only: a gap after 1
        await until(lambda: 3 in ids(watcher))
        await setup.write([tick(run_id, 4)])
        await until(lambda: 4 in ids(watcher))
    assert ids(watcher) == [2, 3, 4]
    assert watcher.frames()[0][2]["message"] == "stored without a NOTIFY"
    assert setup.listener.reads[:1] == [1]


async def test_several_runs_in_one_transaction_each_reach_their_watchers(setup: Setup) -> None:
    first, second = await setup.new_run(), await setup.new_run()
    with watching(setup.listener, first) as one, watching(setup.listener, second) as two:
        await setup.write([tick(first, 2), tick(first, 3)], [tick(second, 2)])
        await setup.write([tick(second, 3)], [tick(first, 4)])
        await until(lambda: 4 in ids(one) and 3 in ids(two))
    assert (ids(one), ids(two)) == ([2, 3, 4], [2, 3])
    assert setup.listener.reads == []


async def test_hostile_data_arrives_as_written(setup: Setup) -> None:
    run_id = await setup.new_run()
    data = {"seq": 2, "message": HOSTILE, HOSTILE: [HOSTILE, {"k:": "\0"}], "n": 2**53 + 1}
    event = RunEvent(run_id, 2, None, data)
    with watching(setup.listener, run_id) as watcher:
        await setup.write([event])
        await until(lambda: 2 in ids(watcher))
    assert bytes(watcher.body) == event.frame
    ((_, _, got),) = watcher.frames()
    assert got["message"] == HOSTILE and got[HOSTILE] == [HOSTILE, {"k:": "\ufffd"}]
    assert setup.listener.reads == []


async def test_our_own_events_are_delivered_once(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our NOTIFY is set aside; the direct delivery (`publish`) is what the watcher gets, and
    the NOTIFY, looked at again later, neither repeats it nor reads the table."""
    monkeypatch.setattr(pg_broker, "OWN_HINT_DELAY_S", 0.05)
    listener = setup.listener
    ours = RunStore(setup.sessions)
    ours.origin = listener.broker.origin
    run_id = await setup.new_run()
    published, unpublished = [tick(run_id, 2), tick(run_id, 3)], [tick(run_id, 4)]
    with watching(listener, run_id) as watcher:
        await setup.write(published, store=ours)
        await listener.broker.publish(run_id, published)
        await setup.write(unpublished, store=ours)  # its publisher was cancelled, say
        await until(lambda: 4 in ids(watcher))
        await asyncio.sleep(0.2)  # every delayed look at our NOTIFYs has come and gone
    assert ids(watcher) == [2, 3, 4]
    assert listener.reads == []


async def _insert_silently(session: AsyncSession, event: RunEvent) -> None:
    row = {"run_id": event.run_id, "seq": event.seq, "event": None, "data": dict(event.data)}
    await session.execute(sa.insert(EVENTS), [row | {"created_at": utc_now()}])
