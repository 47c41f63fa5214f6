"""Cross-process fan-out on PostgreSQL: LISTEN on one dedicated connection per process.

Events are written and NOTIFYed in the same transaction (`RunStore`), so a
notification arrives only for committed events. Its payload carries them when
they fit (`runs/notify.py`): the hub delivers those at once if they follow
what it delivered, and reads anything else it missed from the event table, so
nothing depends on a payload or on a notification arriving at all: a dropped
listener is noticed within seconds (asyncpg's termination callback and a
periodic probe), reconnected with backoff, and every watched run is re-read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any

import asyncpg

from progress_sse.ops.tasks import cancel_and_wait
from progress_sse.runs.events import RunEvent
from progress_sse.runs.notify import Notice, decode_notice, merge_notices
from progress_sse.runs.store import NOTIFY_CHANNEL
from progress_sse.streaming.hub import Hub

log = logging.getLogger(__name__)

LISTENER_NAME = "progress_sse_listener"  # visible in pg_stat_activity


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """`postgresql+asyncpg://…` (SQLAlchemy) -> `postgresql://…` (asyncpg)."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


OWN_HINT_DELAY_S = 0.5


def parse_hint(payload: str) -> tuple[str, int, str] | None:
    """`run_id:seq[:origin[:events]]` -> (run_id, seq, origin); None for anything else."""
    notice = decode_notice(payload)
    return None if notice is None else (notice.run_id, notice.seq, notice.origin)


class PgBroker:
    """LISTENs for every process's NOTIFYs (events or hints); delivers this process's own
    events at once."""

    def __init__(self, hub: Hub, dsn: str, *, probe_s: float = 2.0, origin: str = "") -> None:
        self.hub = hub
        self.origin = origin  # NOTIFYs signed with it are this process's own
        self.dsn = dsn
        self.probe_s = probe_s
        self.reconnects = 0
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, list[Notice]] = {}  # notices of this loop turn, per run

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        await self._connect()
        self._task = asyncio.create_task(self._watch(), name="pg-listener")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._close()

    async def publish(self, run_id: str, events: list[RunEvent]) -> None:
        # Other processes learn from the NOTIFY sent with the events' own commit.
        self.hub.deliver(run_id, events)

    async def _connect(self) -> None:
        conn = await asyncpg.connect(
            self.dsn, timeout=10, server_settings={"application_name": LISTENER_NAME}
        )
        conn.add_termination_listener(self._on_terminated)
        await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        self._conn = conn
        self._lost.clear()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 2)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload.partition(":")[0] not in self.hub.channels:
            return  # nobody here watches that run: its events are not even decoded
        notice = decode_notice(payload)
        if notice is None:
            return
        if notice.origin and notice.origin == self.origin:
            # Our own commit: `publish` delivers it in a moment. A NOTIFY can arrive
            # first, and reading the table for it would be wasted, so look again later:
            # only if the direct delivery never came (a cancelled task) is it used.
            asyncio.get_running_loop().call_later(OWN_HINT_DELAY_S, self._notified, [notice])
            return
        # asyncpg schedules one callback per NOTIFY it read: gather those that arrived
        # together (while the hub was writing, say), so a run's burst is one write.
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self._pending.setdefault(notice.run_id, []).append(notice)

    def _flush(self) -> None:
        pending, self._pending = self._pending, {}
        for notices in pending.values():
            self._notified(notices)

    def _notified(self, notices: list[Notice]) -> None:
        """Deliver the carried events if they follow on; the hint reads whatever is missing."""
        events, seq = merge_notices(notices)
        if events:
            self.hub.offer(notices[0].run_id, events)
        self.hub.hint(notices[0].run_id, seq)

    def _on_terminated(self, _conn: Any) -> None:
        self._lost.set()

    async def _watch(self) -> None:
        """Probe the listener; on loss reconnect with backoff, then re-read watched runs."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.probe_s)
            if not self._lost.is_set() and await self._probe():
                continue
            log.warning("LISTEN connection lost; reconnecting")
            await self._close()
            await self._reconnect()
            self.reconnects += 1
            self.hub.resync()  # anything notified while we were away is in the table

    async def _probe(self) -> bool:
        try:
            await asyncio.wait_for(self._conn.fetchval("SELECT 1"), self.probe_s)
        except Exception:
            return False
        return True

    async def _reconnect(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._connect()
                return
            except Exception as exc:
                log.warning("LISTEN reconnect failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 5.0)
