"""Everything a request handler needs, built once in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from progress_sse.batches.store import BatchStore
from progress_sse.jobs.kinds import JobRegistry
from progress_sse.jobs.liveness import Liveness
from progress_sse.jobs.runner import Runner
from progress_sse.plugins import Plugins
from progress_sse.runs.store import RunStore
from progress_sse.settings import Settings
from progress_sse.streaming.broker import Broker
from progress_sse.streaming.caps import StreamSlots
from progress_sse.streaming.hub import Hub
from progress_sse.streaming.openings import Openings
from progress_sse.web.metrics import Metrics
from progress_sse.web.security.auth import KeyUsage
from progress_sse.web.security.ratelimit import RateLimits
from progress_sse.web.security.websession import SessionCodec
from progress_sse.webhooks.delivery import Notifier
from progress_sse.webhooks.outbox import Outbox


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    business_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    business_sessions: async_sessionmaker[AsyncSession]
    store: RunStore
    plugins: Plugins
    registry: JobRegistry  # the plugins' kinds
    hub: Hub
    batches: BatchStore
    broker: Broker
    runner: Runner | None
    liveness: Liveness
    sessions_codec: SessionCodec
    rate_limits: RateLimits
    key_usage: KeyUsage
    outbox: Outbox
    notifier: Notifier | None
    metrics: Metrics
    stream_slots: StreamSlots
    # Opening a stream reads the database a few times; a reconnect storm of thousands
    # queues here instead of exhausting the pool (which jobs' progress writes need too).
    stream_openings: Openings  # answered streams' snapshot reads go first


def services(conn: HTTPConnection) -> Services:
    """The lifespan's services, from the request's typed state."""
    svc: Any = conn.state.services
    assert isinstance(svc, Services)
    return svc
