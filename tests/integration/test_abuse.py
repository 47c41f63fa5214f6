"""Abuse: cross-site forgery, CORS, rate limits, stream caps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from progress_sse.web.security.auth import list_keys
from tests.support import Server, collect, run_server, run_status, start_run, wait_for

EVIL = "https://evil.example"


def browser(server: Server) -> httpx.AsyncClient:
    return server.client(tenant="")


async def signed_in(client: httpx.AsyncClient, key: str) -> None:
    assert (await client.post("/api/session", json={"api_key": key})).status_code == 200


# -- CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"kind=demo&params=%7B%7D"),
        ("text/plain", b'{"kind": "demo", "params": {"delay_ms": 0}}'),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n',
        ),
    ],
)
async def test_a_forged_cross_site_post_with_the_victims_cookie_changes_nothing(
    server: Server, content_type: str, body: bytes
) -> None:
    async with server.client() as acme:
        running = await start_run(acme, items=400, delay_ms=20)
    async with browser(server) as victim:
        await signed_in(victim, server.keys["acme"])  # the victim's browser holds the cookie
        forged = {"Content-Type": content_type, "Origin": EVIL}
        attempts = [
            ("POST", "/api/runs"),
            ("POST", f"/api/runs/{running}/cancel"),
            ("POST", "/api/periods/2026/1/lock"),
            ("POST", "/api/admin/tenants/acme/reset"),
            ("POST", "/api/admin/cleanup"),
            ("POST", "/api/assets/import"),
            ("DELETE", "/api/session"),
        ]
        answers = [await victim.request(m, p, content=body, headers=forged) for m, p in attempts]
        still_signed_in = await victim.get("/api/session")
    async with server.client() as acme:
        state = await run_status(acme, running)
        runs = (await acme.get("/api/runs")).json()["data"]
        periods = (await acme.get("/api/periods")).json()["data"]
        await acme.post(f"/api/runs/{running}/cancel")  # the server stops in a moment, not 8 s
    for (method, path), answer in zip(attempts, answers, strict=True):
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "csrf_failed"
    assert still_signed_in.status_code == 200
    assert state["status"] == "running" and len(runs) == 1 and periods == []


async def test_reading_never_changes_state(server: Server) -> None:
    """GETs, the stream included, are safe: a cross-site GET can only read (and CORS stops it)."""
    async with server.client() as acme:
        run_id = await start_run(acme, items=2, delay_ms=0)
        await collect(acme, f"/api/runs/{run_id}/events")  # finished: nothing moves by itself
        for path in ("/api/runs", f"/api/runs/{run_id}", "/api/runs/active", "/api/periods"):
            before = (await acme.get("/api/runs")).json()["data"]
            await acme.get(path, headers={"Origin": EVIL})
            assert (await acme.get("/api/runs")).json()["data"] == before


# -- CORS -------------------------------------------------------------------------------

PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


async def test_cors_is_off_by_default(server: Server) -> None:
    async with server.client(tenant="") as client:
        preflight = await client.options("/api/runs", headers={"Origin": EVIL, **PREFLIGHT})
        simple = await client.get("/healthz", headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in preflight.headers
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_allows_only_the_listed_origins_and_never_credentials(
    make_settings: Any,
) -> None:
    app_origin = "https://app.example"
    async with run_server(make_settings(cors_origins=app_origin)) as srv, srv.client() as client:
        ok = await client.options("/api/runs", headers={"Origin": app_origin, **PREFLIGHT})
        refused = await client.options("/api/runs", headers={"Origin": EVIL, **PREFLIGHT})
        listed = await client.get("/api/runs", headers={"Origin": app_origin})
        foreign = await client.get("/api/runs", headers={"Origin": EVIL})
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == app_origin
    assert "authorization" in ok.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in ok.headers
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    assert listed.headers["access-control-allow-origin"] == app_origin
    assert "Origin" in listed.headers["vary"]
    assert "access-control-allow-origin" not in foreign.headers


# -- rate limits ------------------------------------------------------------------------


def assert_limited(response: httpx.Response, code: str) -> None:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    error = response.json()["error"]
    assert error["code"] == code and error["retry_after_s"] == retry_after
    assert f"{retry_after} s" in error["message"]


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_starts_per_key_get_429_with_retry_after_and_write_nothing(
    make_settings: Any, request: pytest.FixtureRequest, storage: str
) -> None:
    shared = request.getfixturevalue("redis_settings") if storage == "redis" else {}
    settings = make_settings(rate_limit_starts="2/minute", **shared)
    async with run_server(settings) as srv, srv.client() as acme, srv.client("globex") as globex:
        for lock in ("a", "b"):
            await start_run(acme, items=1, delay_ms=0, lock=lock)
        third = await acme.post("/api/runs", json={"kind": "demo", "params": {"lock": "c"}})
        theirs = await globex.post("/api/runs", json={"kind": "demo", "params": {"lock": "c"}})
        runs = (await acme.get("/api/runs")).json()["data"]
    assert_limited(third, "rate_limited_starts")
    assert len(runs) == 2, "the refused start wrote nothing"
    assert theirs.status_code == 202, "limits are per key"


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_requests_per_key_and_sign_ins_per_address_are_limited(
    make_settings: Any, request: pytest.FixtureRequest, storage: str
) -> None:
    shared = request.getfixturevalue("redis_settings") if storage == "redis" else {}
    settings = make_settings(
        rate_limit_requests="5/minute", rate_limit_sign_in="3/minute", **shared
    )
    async with run_server(settings) as srv, srv.client() as acme:
        answers = [await acme.get("/api/runs") for _ in range(6)]
        async with browser(srv) as client:
            tries = [
                await client.post("/api/session", json={"api_key": key})
                for key in ("pss_wrong", "pss_wrong", srv.keys["globex"], srv.keys["globex"])
            ]
    assert [a.status_code for a in answers[:5]] == [200] * 5
    assert_limited(answers[5], "rate_limited_requests")
    assert [t.status_code for t in tries[:3]] == [401, 401, 200]
    assert_limited(tries[3], "rate_limited_sign_in")


async def test_a_redis_limit_holds_across_two_server_processes(
    make_settings: Any, redis_settings: dict[str, str]
) -> None:
    settings = make_settings(rate_limit_starts="3/minute", **redis_settings)
    # The second process serves only: on SQLite one process runs a database's jobs.
    serving_only = settings.model_copy(update={"run_jobs": False})
    async with run_server(settings) as one, run_server(serving_only, keys=False) as two:
        two.keys.update(one.keys)  # same database, same keys
        codes = []
        for i, srv in enumerate([one, two, one, two]):
            async with srv.client() as acme:
                answer = await acme.post(
                    "/api/runs", json={"kind": "demo", "params": {"lock": f"l{i}"}}
                )
                codes.append(answer.status_code)
    assert codes == [202, 202, 202, 429]


async def test_an_unreachable_redis_fails_open_and_says_so(
    make_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(redis_url="redis://127.0.0.1:1/0", rate_limit_starts="1/minute")
    async with run_server(settings) as srv, srv.client() as acme:
        first = await acme.post("/api/runs", json={"kind": "demo", "params": {"lock": "a"}})
        second = await acme.post("/api/runs", json={"kind": "demo", "params": {"lock": "b"}})
        events = await acme.get(f"/api/runs/{first.json()['id']}/events")
    assert first.status_code == second.status_code == 202
    assert events.status_code == 200
    assert "rate limits not enforced" in caplog.text
    assert "stream caps not shared" in caplog.text


# -- stream caps ------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def open_stream(client: httpx.AsyncClient, run_id: str) -> AsyncIterator[httpx.Response]:
    async with client.stream("GET", f"/api/runs/{run_id}/events") as response:
        if response.status_code != 200:
            yield response
            return
        lines = response.aiter_lines()  # kept: dropping it would close the stream
        await anext(lines)  # the stream has started: its slot is held
        yield response


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_streams_over_the_key_or_tenant_cap_get_429_not_a_hang(
    make_settings: Any, request: pytest.FixtureRequest, storage: str
) -> None:
    shared = request.getfixturevalue("redis_settings") if storage == "redis" else {}
    settings = make_settings(max_streams_per_key=2, max_streams_per_tenant=3, **shared)
    async with (
        run_server(settings) as srv,
        srv.client() as acme,
        srv.client("acme-member") as member,
    ):
        run_id = await start_run(acme, items=2000, delay_ms=10)
        try:
            await _caps_hold(acme, member, run_id)
        finally:
            await acme.post(f"/api/runs/{run_id}/cancel")


async def _caps_hold(acme: httpx.AsyncClient, member: httpx.AsyncClient, run_id: str) -> None:
    async with open_stream(acme, run_id) as a, open_stream(acme, run_id) as b:
        assert a.status_code == b.status_code == 200
        async with asyncio.timeout(5), open_stream(acme, run_id) as over_key:
            body = await over_key.aread()
        assert over_key.status_code == 429 and int(over_key.headers["retry-after"]) >= 1
        assert b"too_many_streams" in body
        async with open_stream(member, run_id) as c:
            assert c.status_code == 200, "another key of the tenant still has room"
            async with asyncio.timeout(5), open_stream(member, run_id) as over_tenant:
                await over_tenant.aread()
            assert over_tenant.status_code == 429, "the tenant's cap is 3"
    # The server frees a slot once it sees the disconnect: soon, not at once.
    await wait_for(lambda: _admitted(acme, run_id), limit_s=5)  # closed streams gave them back


async def _admitted(client: httpx.AsyncClient, run_id: str) -> bool:
    async with open_stream(client, run_id) as again:
        return again.status_code == 200


async def test_a_redis_stream_cap_spans_processes_and_a_dead_process_slots_expire(
    make_settings: Any, redis_settings: dict[str, str]
) -> None:
    from progress_sse.streaming.caps import RedisStreamSlots

    settings = make_settings(max_streams_per_key=2, **redis_settings)
    # The second process serves only: on SQLite one process runs a database's jobs.
    serving_only = settings.model_copy(update={"run_jobs": False})
    async with run_server(settings) as one, run_server(serving_only, keys=False) as two:
        two.keys.update(one.keys)
        async with one.client() as a, two.client() as b:
            run_id = await start_run(a, items=2000, delay_ms=10)
            async with open_stream(a, run_id) as s1, open_stream(b, run_id) as s2:
                assert s1.status_code == s2.status_code == 200
                async with open_stream(b, run_id) as third:
                    await third.aread()
                assert third.status_code == 429
            await a.post(f"/api/runs/{run_id}/cancel")
    # A process that dies holding slots: its leases run out, nothing stays counted.
    crashed = RedisStreamSlots(
        redis_settings["redis_url"], 1, 10, lease_s=1.2, prefix=redis_settings["redis_key_prefix"]
    )
    await crashed.acquire("acme", "k")  # never released, never renewed
    with pytest.raises(Exception, match="Too many open event streams"):
        await crashed.acquire("acme", "k")
    await asyncio.sleep(1.5)
    slot = await crashed.acquire("acme", "k")
    await crashed.release(slot)
    await crashed.redis.aclose()


# -- keys -------------------------------------------------------------------------------


async def test_a_key_records_when_it_was_last_used(server: Server) -> None:
    before = {k.id: k.last_used_at for k in await list_keys(server.services.sessions, "globex")}
    async with server.client("globex") as globex:
        assert (await globex.get("/api/runs")).status_code == 200
    after = {k.id: k.last_used_at for k in await list_keys(server.services.sessions, "globex")}
    assert set(before.values()) == {None}
    assert all(after.values()), "the globex key used just now has a last-used time"
