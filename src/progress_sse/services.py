"""Everything a request handler needs, built once in the app's lifespan."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from progress_sse.auth import KeyUsage
from progress_sse.broker import Broker
from progress_sse.fanout import Hub
from progress_sse.jobs import JobRegistry
from progress_sse.liveness import Liveness
from progress_sse.metrics import Metrics
from progress_sse.ratelimit import RateLimits
from progress_sse.runner import Runner
from progress_sse.settings import Settings
from progress_sse.store import RunStore
from progress_sse.streamcap import StreamSlots
from progress_sse.webhooks.delivery import Notifier
from progress_sse.webhooks.outbox import Outbox
from progress_sse.websession import SessionCodec


@dataclass(slots=True)
class Services:
    settings: Settings
    engine: AsyncEngine
    business_engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    business_sessions: async_sessionmaker[AsyncSession]
    store: RunStore
    registry: JobRegistry
    hub: Hub
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
    stream_openings: asyncio.Semaphore


def services(conn: HTTPConnection) -> Services:
    """The lifespan's services, from the request's typed state."""
    svc: Any = conn.state.services
    assert isinstance(svc, Services)
    return svc
