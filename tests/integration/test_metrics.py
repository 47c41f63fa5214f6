"""`GET /metrics`: the named series exist, and their values move when runs happen."""

from __future__ import annotations

from typing import Any

import httpx

from progress_sse.settings import normalize_url
from progress_sse.storage import db
from tests.receiver import Receiver, receiving
from tests.support import collect, run_server, start_run, wait_for

SERIES = [
    "progress_sse_streams_open",
    "progress_sse_events_published_total",
    "progress_sse_events_delivered_total",
    "progress_sse_ticks_conflated_total",
    "progress_sse_runs",
    "progress_sse_runs_finished_total",
    "progress_sse_run_duration_seconds_count",
    "progress_sse_heartbeat_age_max_seconds",
    "progress_sse_stale_runs_detected_total",
    "progress_sse_webhook_notifications_total",
    "progress_sse_db_pool_checked_out",
    "progress_sse_db_statements_total",
    "progress_sse_progress_writes_total",
]


def samples(text: str) -> dict[str, float]:
    """`name{labels}` -> value, from the Prometheus text format."""
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found


async def scrape(client: httpx.AsyncClient) -> dict[str, float]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_the_series_exist_and_move_with_runs_streams_and_webhooks(
    make_settings: Any,
) -> None:
    hooks = {"webhook_allow_private": True, "webhook_backoff_s": 0.05, "webhook_jitter_s": 0}
    async with (
        receiving(Receiver(fail_first=1)) as receiver,
        run_server(make_settings(**hooks, webhook_poll_interval_s=0.05)) as srv,
        srv.client() as client,
    ):
        await client.post("/api/webhooks", json={"url": receiver.url})
        before = await scrape(client)
        run_id = await start_run(client, items=20, delay_ms=5)
        async with client.stream("GET", f"/api/runs/{run_id}/events") as stream:
            lines = stream.aiter_lines()  # kept: dropping it would close the stream
            await anext(lines)
            during = await scrape(client)
            async for _ in lines:  # to the end of the run
                pass
        failing = await start_run(client, items=2, delay_ms=0, fail_at=1, lock="other")
        await collect(client, f"/api/runs/{failing}/events")
        await wait_for(lambda: _webhooks_done(client), limit_s=15)
        after = await scrape(client)
    for name in SERIES:
        assert any(key == name or key.startswith(name + "{") for key in after), name
    assert during["progress_sse_streams_open"] == 1 and after["progress_sse_streams_open"] == 0
    done = 'progress_sse_runs_finished_total{kind="demo",status="completed"}'
    failed = 'progress_sse_runs_finished_total{kind="demo",status="failed"}'
    assert before.get(done, 0) == 0 and after[done] == 1 and after[failed] == 1
    assert after['progress_sse_runs{kind="demo",status="completed"}'] == 1
    assert after['progress_sse_run_duration_seconds_count{kind="demo"}'] == 2
    assert (
        after["progress_sse_events_published_total"] > before["progress_sse_events_published_total"]
    )
    assert after["progress_sse_events_delivered_total"] > 0
    assert after["progress_sse_db_statements_total"] > before["progress_sse_db_statements_total"]
    webhooks = 'progress_sse_webhook_notifications_total{outcome="%s"}'
    assert after[webhooks % "delivered"] == 2 and after[webhooks % "failed_attempt"] == 1


async def _webhooks_done(client: httpx.AsyncClient) -> bool:
    got = await scrape(client)
    return got.get('progress_sse_webhook_notifications_total{outcome="delivered"}', 0) == 2


async def test_heartbeat_age_and_stale_detection_are_visible(make_settings: Any) -> None:
    settings = make_settings(stale_after_s=0.6, heartbeat_interval_s=30, sweep_interval_s=0.2)
    async with run_server(settings) as srv, srv.client() as client:
        await start_run(client, items=1, delay_ms=0, hold_ms=3000)
        aged = await wait_for(lambda: _heartbeat_older_than(client, 0.3), limit_s=10)
        stale = await wait_for(lambda: _stale_seen(client), limit_s=10)
    assert aged > 0.3 and stale >= 1


async def _heartbeat_older_than(client: httpx.AsyncClient, seconds: float) -> float:
    age = (await scrape(client))["progress_sse_heartbeat_age_max_seconds"]
    return age if age > seconds else 0.0


async def _stale_seen(client: httpx.AsyncClient) -> float:
    return (await scrape(client))["progress_sse_stale_runs_detected_total"]


async def test_readiness_fails_when_the_database_is_gone(make_settings: Any) -> None:
    settings = make_settings()
    async with run_server(settings) as srv, srv.client() as client:
        ready = await client.get("/readyz")
        real = srv.services.engine
        # The run store is now a database nobody answers for (nothing listens on port 1).
        gone_engine = db.create_engine(normalize_url(GONE), settings)
        srv.services.engine = gone_engine
        try:
            gone = await client.get("/readyz")
            alive = await client.get("/healthz")
        finally:
            srv.services.engine = real
            await gone_engine.dispose()
    assert ready.status_code == 200 and ready.json()["checks"]["database"] is True
    assert gone.status_code == 503 and gone.json()["checks"]["database"] is False
    assert alive.status_code == 200, "the process itself is fine"


GONE = "postgresql://postgres@127.0.0.1:1/gone"
