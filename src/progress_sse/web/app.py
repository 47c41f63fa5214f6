"""`create_app(settings)`: engines, store, hub, broker and runner in one lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from progress_sse.batches.store import BatchStore
from progress_sse.errors import Misconfigured
from progress_sse.jobs.kinds import JobKind
from progress_sse.jobs.liveness import Liveness
from progress_sse.jobs.maintenance import delete_finished
from progress_sse.jobs.runner import Runner
from progress_sse.mail.recipients import MailHook
from progress_sse.mail.smtp import SmtpChannel
from progress_sse.ops.logs import setup_logging
from progress_sse.ops.periodic import Periodic
from progress_sse.plugins import Plugin, Plugins, discover
from progress_sse.runs.models import Run
from progress_sse.runs.store import RunStore
from progress_sse.settings import Settings
from progress_sse.storage import db
from progress_sse.streaming.broker import Broker, LocalBroker
from progress_sse.streaming.caps import MemoryStreamSlots, RedisStreamSlots, StreamSlots
from progress_sse.streaming.hub import Hub
from progress_sse.streaming.openings import Openings
from progress_sse.streaming.pg_broker import PgBroker, asyncpg_dsn
from progress_sse.web.api import admin, batches, kinds, runs, session, static, stream, webhooks
from progress_sse.web.api import mail as mail_api
from progress_sse.web.api.errors import EXCEPTION_HANDLERS
from progress_sse.web.metrics import Metrics, Sources
from progress_sse.web.middleware.accesslog import AccessLog
from progress_sse.web.middleware.guards import RequestGuard
from progress_sse.web.report.route import run_report
from progress_sse.web.security.auth import KeyUsage, recently_revoked
from progress_sse.web.security.ratelimit import RateLimits, Scope
from progress_sse.web.security.websession import SessionCodec
from progress_sse.web.services import Services, services
from progress_sse.web.streamfront import StreamFront
from progress_sse.webhooks.delivery import Channel, Notifier, RetryPolicy
from progress_sse.webhooks.models import MAIL
from progress_sse.webhooks.outbox import Outbox
from progress_sse.webhooks.outbox import enqueue as enqueue_notifications
from progress_sse.wire import ProgressEventJson

log = logging.getLogger(__name__)
CORS_REQUEST_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "Last-Event-ID"]


@asynccontextmanager
async def open_services(settings: Settings, plugins: Plugins) -> AsyncIterator[Services]:
    """Build every long-lived object and start it; tear down in reverse, however far
    start-up got (a refusal half-way must leave no connection or task behind)."""
    if (problem := settings.pool_problem()) is not None:  # `worker --concurrency` edits a copy
        raise Misconfigured(problem)
    async with contextlib.AsyncExitStack() as stack:
        engine = db.store_engine(settings)
        stack.push_async_callback(engine.dispose)
        business_engine = db.business_engine(settings)  # its own pool, even on one database
        stack.push_async_callback(business_engine.dispose)
        await db.check_connection_budget(engine, settings)
        svc = build_services(settings, plugins, engine, business_engine)
        stack.push_async_callback(svc.rate_limits.aclose)
        stack.push_async_callback(svc.batches.aclose)
        stack.callback(svc.metrics.close)
        await svc.broker.start()
        stack.push_async_callback(svc.broker.stop)
        await svc.stream_slots.start()
        stack.push_async_callback(svc.stream_slots.stop)
        for task in background_tasks(svc):
            task.start()
            stack.push_async_callback(task.stop)
        if svc.runner is not None:
            # Jobs cannot run on tables that do not exist: say what to run, not `no such table`.
            if await db.schema_state(engine, plugins.migration_folders()) == "missing":
                raise Misconfigured(
                    "the run store has no progress-sse tables yet: run `progress-sse db upgrade` "
                    "before starting the app"
                )
            stack.push_async_callback(svc.runner.stop, settings.shutdown_grace_s)
            await svc.runner.take_ownership()
            if svc.runner.sole_owner:  # SQLite: what is still running was a dead process's
                await svc.liveness.fail_left_running()  # before this process claims anything
            await svc.runner.start()
        if svc.notifier is not None:
            await svc.notifier.start()
            stack.push_async_callback(svc.notifier.stop)
        stopping = asyncio.create_task(_close_streams_on_exit(svc.hub), name="stream-closer")
        stack.callback(stopping.cancel)
        if settings.gc_freeze:
            freeze_startup_objects()
        yield svc


def build_services(
    settings: Settings, plugins: Plugins, engine: AsyncEngine, business_engine: AsyncEngine
) -> Services:
    """Every long-lived object of a process, wired, nothing started yet."""
    sessions = db.sessionmaker(engine)
    batch_store: BatchStore  # built below, once the broker and the runner exist

    async def batch_child_finished(session: AsyncSession, run: Run) -> None:
        await batch_store.child_finished(session, run)

    async def batch_child_progress(
        session: AsyncSession, batch_id: str, run_id: str, latest: ProgressEventJson
    ) -> None:
        await batch_store.child_progress(session, batch_id, run_id, latest)

    mail_hooks = (  # no SMTP host: no mail is queued (docs/mail.md)
        [MailHook(plugins.registry, sender=settings.mail_from, link_base=settings.link_base)]
        if settings.mail_enabled and settings.mail_from
        else []
    )
    store = RunStore(
        sessions,
        finish_hooks=[batch_child_finished, enqueue_notifications, *mail_hooks],
        progress_hooks=[batch_child_progress],
    )
    hub = Hub(
        settings.client_buffer,
        fetch=lambda run_id, after: store.events_after(run_id, after, settings.replay_page),
    )
    broker: Broker = (
        PgBroker(
            hub, asyncpg_dsn(settings.database_url), probe_s=settings.listen_probe_s,
            origin=store.origin,
        )
        if settings.database_url.startswith("postgresql")
        else LocalBroker(hub)
    )  # fmt: skip
    business_sessions = db.sessionmaker(business_engine)
    liveness = Liveness(store, broker, stale_after_s=settings.stale_after_s)
    outbox = Outbox(sessions)
    webhook_notifier = notifier(settings, outbox) if settings.run_jobs else None
    metrics = Metrics(metric_sources(engine, hub, store, liveness, webhook_notifier))
    runner = (
        Runner(
            settings,
            store,
            plugins.registry,
            broker,
            business_sessions,
            on_finished=metrics.run_finished,
        )
        if settings.run_jobs
        else None
    )
    batch_store = BatchStore(
        store, plugins.registry, broker.publish, on_started=runner.wake if runner else None
    )
    return Services(
        settings=settings, engine=engine, business_engine=business_engine, sessions=sessions,
        business_sessions=business_sessions, store=store, plugins=plugins,
        registry=plugins.registry, hub=hub, batches=batch_store,
        broker=broker, runner=runner,
        liveness=liveness,
        rate_limits=rate_limits(settings),
        stream_slots=stream_slots(settings),
        stream_openings=Openings(max(1, settings.pool_size // 2)),
        key_usage=KeyUsage(sessions),
        outbox=outbox,
        notifier=webhook_notifier,
        metrics=metrics,
        sessions_codec=SessionCodec(
            settings.session_secret or _ephemeral_secret(), settings.session_ttl_s,
            settings.cookie_secure,
        ),
    )  # fmt: skip


def rate_limits(settings: Settings) -> RateLimits:
    return RateLimits(
        {
            Scope.REQUESTS: settings.rate_limit_requests,
            Scope.STARTS: settings.rate_limit_starts,
            Scope.SIGN_IN: settings.rate_limit_sign_in,
            Scope.FAILED_AUTH: settings.rate_limit_failed_auth,
        },
        settings.redis_url,
        settings.redis_key_prefix,
    )


def background_tasks(svc: Services) -> list[Periodic]:
    """The periodic work of every process: sweeps, metrics, pings, retention."""
    settings, outbox, store = svc.settings, svc.outbox, svc.store
    tasks = [
        Periodic("stale-sweeper", settings.sweep_interval_s, svc.liveness.sweep),
        # PostgreSQL: a dead worker's session and lock are gone at once; look often.
        Periodic("orphan-sweeper", settings.heartbeat_interval_s, svc.liveness.sweep_orphans),
        Periodic("revoked-streams", REVOCATION_CHECK_S, lambda: end_revoked_streams(svc)),
        Periodic("metrics-sync", METRICS_SYNC_S, _as_coroutine(svc.metrics.sync)),
        pinger(svc.hub, settings.ping_interval_s),
    ]
    if settings.webhook_retention_days > 0:
        kept = timedelta(days=settings.webhook_retention_days)
        tasks.append(Periodic(
            "webhook-retention", settings.retention_interval_s, lambda: outbox.cleanup(kept)
        ))  # fmt: skip
    if settings.retention_days > 0:
        keep = timedelta(days=settings.retention_days)
        tasks.append(Periodic(
            "retention", settings.retention_interval_s,
            lambda: delete_finished(store, older_than=keep, tenant_id=None, by="retention"),
        ))  # fmt: skip
    return tasks


def freeze_startup_objects() -> None:
    """Take everything alive after start-up (modules, mappers, compiled SQL) out of GC scans.

    With thousands of open streams, a full collection that walks those few
    hundred thousand permanent objects paused every stream for 100 ms and
    more (bench/RESULTS.md). They never become garbage, so nothing is lost.
    """
    gc.collect()
    gc.freeze()


def stream_slots(settings: Settings) -> StreamSlots:
    per_key, per_tenant = settings.max_streams_per_key, settings.max_streams_per_tenant
    if settings.redis_url:
        return RedisStreamSlots(
            settings.redis_url, per_key, per_tenant, settings.stream_lease_s,
            settings.redis_key_prefix,
        )  # fmt: skip
    return MemoryStreamSlots(per_key, per_tenant)


METRICS_SYNC_S = 5.0
REVOCATION_CHECK_S = 2.0  # how soon a sign-out or key revocation made anywhere ends streams


async def end_revoked_streams(svc: Services) -> None:
    """End this process's streams whose key or browser session was revoked (or expired)."""
    keys, sessions = await recently_revoked(svc.sessions, window_s=REVOCATION_CHECK_S * 30)
    if keys or sessions:
        svc.hub.revoke(keys, sessions)


def pinger(hub: Hub, interval_s: float) -> Periodic:
    """Keep-alive comments for quiet streams: one sweep for all, no timer per stream.

    A stream is pinged once it has been silent for `interval_s - tick`, so no
    gap between writes exceeds `interval_s` by more than a late sweep.
    """
    tick = min(1.0, interval_s / 4)

    async def sweep() -> None:
        hub.ping_idle(time.monotonic() - (interval_s - tick))

    return Periodic("stream-pinger", tick, sweep)


def _as_coroutine(action: Callable[[], None]) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        action()

    return run


def metric_sources(
    engine: AsyncEngine, hub: Hub, store: RunStore, liveness: Liveness, notifier: Notifier | None
) -> Sources:
    """This process's counters, as the metrics read them at each sync."""
    pool: Any = engine.pool
    statements = StatementCounter(engine)
    return Sources(
        watchers=lambda: hub.watchers,
        delivered=lambda: hub.stats.delivered,
        conflated=lambda: hub.stats.conflated,
        events_written=lambda: store.events_written,
        progress_writes=lambda: store.progress_writes,
        progress_commits=lambda: store.progress_commits,
        stale_detected=lambda: liveness.detected,
        webhooks_delivered=lambda: notifier.delivered if notifier else 0,
        webhooks_dead=lambda: notifier.dead if notifier else 0,
        webhook_failed_attempts=lambda: notifier.failed_attempts if notifier else 0,
        pool_checked_out=lambda: pool.checkedout() if hasattr(pool, "checkedout") else 0,
        db_statements=lambda: statements.count,
    )


class StatementCounter:
    """Counts the SQL statements an engine sends: proof that watchers cost no queries."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


async def metrics_endpoint(request: Request) -> Response:
    svc = services(request)
    body = await svc.metrics.exposition(svc.sessions)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def notifier(settings: Settings, outbox: Outbox) -> Notifier | None:
    if not settings.webhook_delivery:
        return None
    policy = RetryPolicy(
        attempts=settings.webhook_attempts,
        backoff_s=settings.webhook_backoff_s,
        max_backoff_s=settings.webhook_max_backoff_s,
        jitter_s=settings.webhook_jitter_s,
        timeout_s=settings.webhook_timeout_s,
    )
    channels: dict[str, Channel] = {MAIL: SmtpChannel(settings)} if settings.mail_enabled else {}
    return Notifier(
        outbox,
        policy,
        allow_private=settings.webhook_allow_private,
        poll_interval_s=settings.webhook_poll_interval_s,
        channels=channels,
    )


def _ephemeral_secret() -> str:
    log.warning(
        "PROGRESS_SSE_SESSION_SECRET is not set: browser sessions end when this process "
        "stops, and other processes will not accept them"
    )
    return secrets.token_urlsafe(32)


async def _close_streams_on_exit(hub: Hub) -> None:
    """When uvicorn is told to exit (SIGTERM), end every stream with a retry hint.

    uvicorn waits for open connections before running the lifespan shutdown,
    so streams must end first; sse-starlette records the exit in `AppStatus`.
    """
    while not AppStatus.should_exit:  # noqa: ASYNC110 - a library flag, not an event
        await asyncio.sleep(0.25)
    hub.close()


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers and its schema is at the Alembic head."""
    svc = services(request)
    checks: dict[str, Any] = {}
    try:
        folders = svc.plugins.migration_folders()
        checks["database"] = await db.schema_is_current(svc.engine, folders)
        if svc.business_engine is not svc.engine:
            checks["app_database"] = await db.schema_is_current(svc.business_engine, folders)
    except Exception:
        checks["database"] = False
    checks["broker"] = svc.broker.connected
    ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


def routes(plugins: Plugins) -> list[BaseRoute]:
    """The engine's routes, then each plugin's."""
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/api/runs", runs.create_run, methods=["POST"]),
        Route("/api/runs", runs.list_runs, methods=["GET"]),
        Route("/api/runs/active", runs.active_run, methods=["GET"]),
        Route("/api/runs/{run_id}", runs.show_run, methods=["GET"]),
        Route("/api/runs/{run_id}/events", stream.run_events, methods=["GET"]),
        Route("/api/runs/{run_id}/log", runs.run_log, methods=["GET"]),
        Route("/api/runs/{run_id}/report", run_report, methods=["GET"]),
        Route("/api/runs/{run_id}/cancel", runs.cancel_run, methods=["POST"]),
        Route("/api/runs/{run_id}/resume", runs.resume_run, methods=["POST"]),
        Route("/api/runs/{run_id}/pause", runs.pause_run, methods=["POST"]),
        Route("/api/kinds", kinds.list_kinds, methods=["GET"]),
        *batches.routes(),
        *admin.routes(),
        *session.routes(),
        *webhooks.routes(),
        *mail_api.routes(),
        *plugins.routes(),
    ]


# Served at the outermost layer, below no middleware (web/streamfront.py).
STREAM_ENDPOINTS = (stream.run_events, batches.batch_events)


class App(Starlette):
    """Starlette, with the event streams served outside the middleware (web/streamfront.py)."""

    def build_middleware_stack(self) -> ASGIApp:
        streams = [
            route for route in self.router.routes
            if isinstance(route, Route) and route.endpoint in STREAM_ENDPOINTS
        ]  # fmt: skip
        return StreamFront(
            super().build_middleware_stack(), streams, self.user_middleware,
            self.exception_handlers,
        )  # fmt: skip

    def lifespan(self, _parent: object = None) -> AbstractAsyncContextManager[Any]:
        """The service's start-up and shutdown, for an application that mounts it (a mounted
        app gets no lifespan events of its own): `Starlette(routes=[Mount("/progress",
        progress)], lifespan=progress.lifespan)`, or `FastAPI(lifespan=progress.lifespan)`.
        It yields the state the service's requests read, so the parent must pass it on."""
        return self.router.lifespan_context(self)


def create_app(settings: Settings | None = None, *, jobs: Iterable[JobKind | Plugin] = ()) -> App:
    """The service as an ASGI app: the API, the event streams, the page and the runner.

    Job kinds come from installed packages (entry-point group `progress_sse.jobs`),
    from `PROGRESS_SSE_JOBS`, and from `jobs`. Mount it anywhere:
    `parent.mount("/progress", create_app(settings))`.
    """
    settings = settings or Settings()
    plugins = discover(settings, jobs)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        async with open_services(settings, plugins) as svc:
            app.state.services = svc  # for operators and tests holding the app object
            yield {"services": svc}

    return App(
        routes=[*routes(plugins), *static.routes(static.load_page(static.static_folder()))],
        lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS,
        middleware=middleware(settings),
    )


def create_worker_app() -> Starlette:
    """The app of one `serve --workers N` process: it sets up its own logging first."""
    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    return create_app(settings)


def middleware(settings: Settings) -> list[Middleware]:
    """The access log and the header limit always; CORS only for the origins configured."""
    stack = [Middleware(AccessLog), Middleware(RequestGuard, max_bytes=settings.max_header_bytes)]
    if settings.cors_origin_list:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origin_list,
                allow_credentials=False,  # cross-origin callers use bearer keys, not cookies
                allow_methods=["GET", "POST", "PATCH", "DELETE"],  # PATCH: mail recipients
                allow_headers=CORS_REQUEST_HEADERS,
                expose_headers=["Retry-After", "Location", "Idempotent-Replayed"],
                max_age=600,
            )
        )
    return stack
