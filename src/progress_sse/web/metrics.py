"""Prometheus metrics (`GET /metrics`), multiprocess-safe.

Counters that change on hot paths (events delivered to watchers, conflated
ticks) are kept as plain integers where they happen and added to the
prometheus_client objects every few seconds and at each scrape, so the
fan-out loop never takes the client's lock. With `PROMETHEUS_MULTIPROC_DIR`
set (several `serve --workers`), each process writes its own files and a
scrape of any process sums them. Gauges read from the database (runs by kind
and status, the oldest heartbeat) are global by nature and computed per scrape.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

from progress_sse.runs.events import utc_now
from progress_sse.runs.models import Run
from progress_sse.runs.statuses import RunStatus

DURATION_BUCKETS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


Count = Callable[[], int]


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the process-local numbers live (read at each sync)."""

    watchers: Count
    delivered: Count
    conflated: Count
    events_written: Count
    progress_writes: Count
    progress_commits: Count
    stale_detected: Count
    webhooks_delivered: Count
    webhooks_dead: Count
    webhook_failed_attempts: Count
    pool_checked_out: Count
    db_statements: Count


@dataclass
class Metrics:
    sources: Sources
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        # In multiprocess mode the values go to files, not to a registry.
        target = None if multiprocess_dir() else self.registry
        kw: dict[str, Any] = {"registry": target}
        self.streams_open = Gauge(
            "progress_sse_streams_open", "Open event streams", multiprocess_mode="livesum", **kw
        )
        self.pool_checked_out = Gauge(
            "progress_sse_db_pool_checked_out",
            "Database connections in use (run store pool)",
            multiprocess_mode="livesum",
            **kw,
        )
        self.progress_writes = Counter(
            "progress_sse_progress_writes",
            "Progress writes of runs (at most 1/PROGRESS_INTERVAL_S per run)",
            **kw,
        )
        self.progress_commits = Counter(
            "progress_sse_progress_commits",
            "Transactions carrying progress writes (group commit: all of a process's runs' "
            "writes ready at once share one)",
            **kw,
        )
        self.events_published = Counter(
            "progress_sse_events_published", "Events written to the event table", **kw
        )
        self.events_delivered = Counter(
            "progress_sse_events_delivered", "Events handed to watchers' buffers", **kw
        )
        self.ticks_conflated = Counter(
            "progress_sse_ticks_conflated", "Progress ticks replaced by a newer one", **kw
        )
        self.db_statements = Counter(
            "progress_sse_db_statements",
            "SQL statements this process sent to the run store (a scrape adds its own two)",
            **kw,
        )
        self.stale_detected = Counter(
            "progress_sse_stale_runs_detected", "Runs failed for a missing heartbeat", **kw
        )
        self.webhooks = Counter(
            "progress_sse_webhook_notifications",
            "Webhook outcomes: delivered, failed_attempt, dead",
            ["outcome"],
            **kw,
        )
        self.runs_finished = Counter(
            "progress_sse_runs_finished", "Runs ended by this process", ["kind", "status"], **kw
        )
        self.run_duration = Histogram(
            "progress_sse_run_duration_seconds",
            "From start to end of a run",
            ["kind"],
            buckets=DURATION_BUCKETS,
            **kw,
        )
        self._seen: dict[str, int] = {}

    def close(self) -> None:
        """This process is ending: its live gauges leave the multiprocess sums."""
        if multiprocess_dir():
            mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def run_finished(self, kind: str, status: str, seconds: float | None) -> None:
        self.runs_finished.labels(kind, status).inc()
        if seconds is not None:
            self.run_duration.labels(kind).observe(max(0.0, seconds))

    def _add(self, name: str, counter: Any, total: int) -> None:
        delta = total - self._seen.get(name, 0)
        if delta > 0:
            counter.inc(delta)
        self._seen[name] = total

    def sync(self) -> None:
        """Move the process-local numbers into the prometheus_client objects."""
        s = self.sources
        self.streams_open.set(s.watchers())
        self.pool_checked_out.set(s.pool_checked_out())
        self._add("published", self.events_published, s.events_written())
        self._add("writes", self.progress_writes, s.progress_writes())
        self._add("commits", self.progress_commits, s.progress_commits())
        self._add("delivered", self.events_delivered, s.delivered())
        self._add("conflated", self.ticks_conflated, s.conflated())
        self._add("stale", self.stale_detected, s.stale_detected())
        self._add("statements", self.db_statements, s.db_statements())
        self._add("wh_ok", self.webhooks.labels("delivered"), s.webhooks_delivered())
        self._add("wh_dead", self.webhooks.labels("dead"), s.webhooks_dead())
        self._add("wh_fail", self.webhooks.labels("failed_attempt"), s.webhook_failed_attempts())

    async def exposition(self, sessions: Any) -> bytes:
        """The text a scrape gets: this process (or all, multiprocess) plus database gauges."""
        self.sync()
        database = await database_gauges(sessions)
        registry = self.registry
        if multiprocess_dir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        registry.register(database)
        try:
            return generate_latest(registry)
        finally:
            registry.unregister(database)


class DatabaseGauges(Collector):
    """Values read from the run store just before a scrape."""

    def __init__(self, by_state: Iterable[tuple[str, str, int]], oldest_s: float) -> None:
        self.by_state = list(by_state)
        self.oldest_s = oldest_s

    def collect(self) -> Iterator[GaugeMetricFamily]:
        runs = GaugeMetricFamily(
            "progress_sse_runs", "Runs in the store by kind and status", labels=["kind", "status"]
        )
        for kind, status, count in self.by_state:
            runs.add_metric([kind, status], count)
        yield runs
        yield GaugeMetricFamily(
            "progress_sse_heartbeat_age_max_seconds",
            "Age of the oldest heartbeat among running runs (0 when none run)",
            value=self.oldest_s,
        )


async def database_gauges(sessions: Any) -> DatabaseGauges:
    async with sessions() as session:
        rows = (
            await session.execute(
                sa.select(Run.kind, Run.status, sa.func.count()).group_by(Run.kind, Run.status)
            )
        ).all()
        oldest: datetime | None = await session.scalar(
            sa.select(sa.func.min(Run.heartbeat_at)).where(Run.status == RunStatus.RUNNING.value)
        )
    age = (utc_now() - oldest).total_seconds() if oldest is not None else 0.0
    return DatabaseGauges([(k, s, int(n)) for k, s, n in rows], max(0.0, age))
