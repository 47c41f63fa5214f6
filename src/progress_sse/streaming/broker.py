"""Brokers carry "run X has new events" from the writer to every process's hub.

The database is the truth: a broker only spares watchers a poll. The local
broker hands events straight to this process's hub (one process, SQLite).
"""

from __future__ import annotations

from typing import Protocol

from progress_sse.runs.events import RunEvent
from progress_sse.streaming.hub import Hub


class Broker(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def publish(self, run_id: str, events: list[RunEvent]) -> None: ...

    @property
    def connected(self) -> bool: ...


class LocalBroker:
    """In-process delivery for a single process."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, run_id: str, events: list[RunEvent]) -> None:
        self.hub.deliver(run_id, events)

    @property
    def connected(self) -> bool:
        return True
