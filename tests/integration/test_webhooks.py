"""Webhooks: a real receiver on loopback, retries with backoff, dead letters, manual retry."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from progress_sse.webhooks.models import Notification
from progress_sse.webhooks.payload import verify
from progress_sse.webhooks.urls import is_public
from tests.receiver import Receiver, receiving
from tests.support import Server, collect, run_server, start_run, wait_for

# Short waits: 0.1 s, 0.2 s, 0.4 s (+ up to 0.02 s jitter) between four attempts.
FAST_HOOKS = {
    "webhook_allow_private": True,
    "webhook_backoff_s": 0.1,
    "webhook_jitter_s": 0.02,
    "webhook_max_backoff_s": 1.0,
    "webhook_timeout_s": 1.0,
    "webhook_poll_interval_s": 0.05,
}


async def add_hook(
    client: httpx.AsyncClient, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = events
    response = await client.post("/api/webhooks", json=body)
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert isinstance(data, dict)
    return data


async def finished_run(client: httpx.AsyncClient, **params: Any) -> str:
    run_id = await start_run(client, **{"items": 2, "delay_ms": 0, **params})
    await collect(client, f"/api/runs/{run_id}/events")
    return run_id


async def notes(server: Server) -> list[Notification]:
    async with server.services.sessions() as session:
        return list((await session.execute(sa.select(Notification))).scalars())


async def test_a_flaky_receiver_gets_the_run_after_retries_with_growing_waits(
    make_settings: Any,
) -> None:
    async with (
        receiving(Receiver(fail_first=2)) as receiver,
        run_server(make_settings(**FAST_HOOKS)) as srv,
        srv.client() as client,
    ):
        hook = await add_hook(client, receiver.url)
        run_id = await finished_run(client)
        await wait_for(lambda: _delivered(srv), limit_s=15)
        stored = await notes(srv)
    assert len(receiver.received) == 3
    first, second, third = receiver.received
    assert second.at - first.at >= 0.1 and third.at - second.at >= 0.2, "exponential backoff"
    ids = {r.headers["x-progress-sse-delivery"] for r in receiver.received}
    assert ids == {stored[0].id}, "one delivery id across every attempt"
    assert all(r.body == first.body for r in receiver.received), "the same bytes each time"
    assert verify(hook["secret"], third.body, third.headers["x-progress-sse-signature"])
    assert not verify("another secret", third.body, third.headers["x-progress-sse-signature"])
    sent = json.loads(third.body)
    assert sent["event"] == "complete" and sent["delivery_id"] == stored[0].id
    assert sent["run"]["id"] == run_id and sent["run"]["status"] == "completed"
    assert sent["run"]["kind"] == "demo" and sent["run"]["result"]["items"] == 2
    assert sent["run"]["finished_at"] and sent["run"]["started_at"]
    assert stored[0].status == "delivered" and stored[0].attempts == 3


async def _delivered(server: Server) -> bool:
    return any(n.status == "delivered" for n in await notes(server))


async def _dead(server: Server) -> bool:
    return any(n.status == "dead" for n in await notes(server))


async def test_a_receiver_that_always_fails_ends_in_the_dead_letters_and_a_retry_delivers(
    make_settings: Any,
) -> None:
    receiver = Receiver(fail_first=None, fail_status=500)
    async with (
        receiving(receiver),
        run_server(make_settings(**FAST_HOOKS)) as srv,
        srv.client() as client,
    ):
        await add_hook(client, receiver.url)
        run_id = await finished_run(client)
        await wait_for(lambda: _dead(srv), limit_s=15)
        failed = (await client.get("/api/notifications/failed?retried=false&limit=50")).json()
        receiver.fail_first = len(receiver.received)  # the receiver is fixed
        letter = failed["data"][0]
        retried = await client.post(f"/api/notifications/failed/{letter['id']}/retry")
        await wait_for(lambda: _delivered(srv), limit_s=15)
        again = await client.post(f"/api/notifications/failed/{letter['id']}/retry")
        open_letters = (await client.get("/api/notifications/failed?retried=false")).json()
        done_letters = (await client.get("/api/notifications/failed?retried=true")).json()
    assert failed["success"] is True and failed["total"] == 1
    assert letter["run_id"] == run_id and letter["attempts"] == 4
    assert letter["last_status_code"] == 500 and letter["last_error"] == "HTTP 500"
    assert letter["retried"] is False and letter["event"] == "complete"
    assert retried.status_code == 202
    assert retried.json()["data"]["delivery_id"] == letter["delivery_id"]
    assert receiver.deliveries() == {letter["delivery_id"]: 1}
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_retried"
    assert open_letters["total"] == 0 and done_letters["total"] == 1
    assert done_letters["data"][0]["retried_at"]


@pytest.mark.parametrize(
    ("fail_status", "attempts"),
    [(400, 1), (404, 1), (410, 1), (301, 1), (429, 4), (502, 4)],
)
async def test_only_429_and_5xx_are_retried(
    make_settings: Any, fail_status: int, attempts: int
) -> None:
    receiver = Receiver(fail_first=None, fail_status=fail_status)
    async with (
        receiving(receiver),
        run_server(make_settings(**FAST_HOOKS)) as srv,
        srv.client() as client,
    ):
        await add_hook(client, receiver.url)
        await finished_run(client)
        await wait_for(lambda: _dead(srv), limit_s=15)
    assert len(receiver.received) == attempts


async def test_timeouts_and_refused_connections_are_retried(make_settings: Any) -> None:
    slow = Receiver(fail_first=0, delay_s=3.0)  # longer than the 1 s timeout
    async with receiving(slow):
        settings = make_settings(**{**FAST_HOOKS, "webhook_attempts": 2})
        async with run_server(settings) as srv, srv.client() as client:
            await add_hook(client, slow.url)
            refused_url = slow.url.rsplit(":", 1)[0] + ":9/hook"  # nothing listens on port 9
            await add_hook(client, refused_url)
            await finished_run(client)
            await wait_for(lambda: _two_dead(srv), limit_s=20)
            letters = (await client.get("/api/notifications/failed")).json()["data"]
    errors = sorted(str(letter["last_error"]) for letter in letters)
    assert len(slow.received) == 2, "a timed-out attempt was tried again"
    assert errors[0].startswith("ConnectError") and errors[1].startswith("timeout")
    assert all(letter["attempts"] == 2 for letter in letters)


async def _two_dead(server: Server) -> bool:
    return sum(n.status == "dead" for n in await notes(server)) == 2


async def test_endpoints_get_only_the_events_they_subscribed_to(make_settings: Any) -> None:
    errors_only, everything = Receiver(), Receiver()
    async with (
        receiving(errors_only),
        receiving(everything),
        run_server(make_settings(**FAST_HOOKS)) as srv,
        srv.client() as client,
    ):
        await add_hook(client, errors_only.url, ["error", "stale"])
        await add_hook(client, everything.url)
        await finished_run(client, lock="ok")
        await finished_run(client, lock="bad", fail_at=1)
        await wait_for(lambda: _count_delivered(srv, 3), limit_s=15)
        listed = (await client.get("/api/webhooks")).json()["data"]
    assert [json.loads(r.body)["event"] for r in errors_only.received] == ["error"]
    assert sorted(json.loads(r.body)["event"] for r in everything.received) == ["complete", "error"]
    failed_run = json.loads(errors_only.received[0].body)["run"]
    assert failed_run["error_code"] == "demo_failure" and failed_run["status"] == "failed"
    assert all("secret" not in hook for hook in listed), "secrets are shown once only"


async def _count_delivered(server: Server, n: int) -> bool:
    return sum(note.status == "delivered" for note in await notes(server)) == n


async def test_a_notification_written_with_the_run_is_delivered_after_a_restart_exactly_once(
    make_settings: Any,
) -> None:
    """The process that finished the run stops before delivering: the next one delivers it."""
    async with receiving(Receiver()) as receiver:
        quiet = make_settings(**{**FAST_HOOKS, "webhook_delivery": False})
        async with run_server(quiet) as first, first.client() as client:
            await add_hook(client, receiver.url)
            run_id = await finished_run(client)
            pending = await notes(first)  # written in the run's final transaction
        assert [n.status for n in pending] == ["pending"] and pending[0].run_id == run_id
        assert receiver.received == []
        async with run_server(make_settings(**FAST_HOOKS), keys=False) as second:
            await wait_for(lambda: _delivered(second), limit_s=15)
            await wait_for(lambda: _quiet_for(receiver), limit_s=5)
    assert receiver.deliveries() == {pending[0].id: 1}


async def _quiet_for(receiver: Receiver) -> bool:
    import asyncio

    before = len(receiver.received)
    await asyncio.sleep(0.5)
    return len(receiver.received) == before


SSRF = [
    "http://127.0.0.1:8000/hook",
    "http://localhost/hook",
    "http://10.1.2.3/hook",
    "http://192.168.0.10/hook",
    "http://172.16.5.4/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0.0.0.0/hook",
    "http://[fe80::1]/hook",
    "ftp://example.com/hook",
    "file:///etc/passwd",
    "javascript:alert(1)",
    "http://user:pw@example.com/hook",
    "http:///hook",
]


@pytest.mark.parametrize("url", SSRF)
async def test_webhook_urls_that_reach_inside_are_refused(server: Server, url: str) -> None:
    async with server.client() as client:
        answer = await client.post("/api/webhooks", json={"url": url})
        listed = (await client.get("/api/webhooks")).json()["data"]
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "webhook_url_refused"
    assert listed == [], "nothing was written"


async def test_a_target_that_became_private_is_refused_at_delivery(
    make_settings: Any,
) -> None:
    """Registered while allowed, delivered where it is forbidden: a dead letter, no request."""
    async with receiving(Receiver()) as receiver:
        strict = make_settings(**{**FAST_HOOKS, "webhook_allow_private": False})
        async with run_server(strict) as srv, srv.client() as client:
            await srv.services.outbox.add_webhook("acme", receiver.url, ["complete"])
            await finished_run(client)
            await wait_for(lambda: _dead(srv), limit_s=15)
            letters = (await client.get("/api/notifications/failed")).json()["data"]
    assert receiver.received == []
    assert "non-public address" in letters[0]["last_error"] and letters[0]["attempts"] == 1


def test_public_addresses_pass_and_every_inside_address_does_not() -> None:
    assert is_public("93.184.216.34") and is_public("2606:2800:220:1:248:1893:25c8:1946")
    for inside in ("127.0.0.1", "10.0.0.1", "100.64.0.1", "169.254.169.254", "::1", "fc00::1",
                   "::ffff:10.0.0.1", "224.0.0.1", "0.0.0.0", "255.255.255.255"):  # fmt: skip
        assert not is_public(inside), inside


async def test_bad_webhook_input_is_422_and_members_get_403(server: Server) -> None:
    async with server.client() as admin_client, server.client("acme-member") as member:
        bad_events = await admin_client.post(
            "/api/webhooks", json={"url": "http://a.example/x", "events": ["done"]}
        )
        short_secret = await admin_client.post(
            "/api/webhooks", json={"url": "http://a.example/x", "secret": "short"}
        )
        no_url = await admin_client.post("/api/webhooks", json={})
        forbidden = await member.get("/api/webhooks")
        bad_filter = await admin_client.get("/api/notifications/failed?retried=maybe")
        missing = await admin_client.delete("/api/webhooks/999")
    for answer in (bad_events, short_secret, no_url, bad_filter):
        assert answer.status_code == 422, answer.text
    assert forbidden.status_code == 403 and missing.status_code == 404


async def test_a_stale_run_is_its_own_event(make_settings: Any) -> None:
    """The worker went silent: the sweeper fails the run, and `stale` subscribers hear of it."""
    settings = make_settings(
        **FAST_HOOKS, stale_after_s=0.6, heartbeat_interval_s=30, sweep_interval_s=0.2
    )
    async with (
        receiving(Receiver()) as receiver,
        run_server(settings) as srv,
        srv.client() as client,
    ):
        await add_hook(client, receiver.url, ["stale"])
        run_id = await start_run(client, items=1, delay_ms=0, hold_ms=2500)
        await wait_for(lambda: _delivered(srv), limit_s=15)
    sent = json.loads(receiver.received[0].body)
    assert sent["event"] == "stale" and sent["run"]["id"] == run_id
    assert sent["run"]["status"] == "failed" and sent["run"]["error_code"] == "stale"
