"""Refused keys and sessions are limited per client address (`rate_limit_failed_auth`).

Every test client comes from 127.0.0.1, so a small limit (5/minute) shows the
contract; another address is asked through `authenticate` directly.
"""

from __future__ import annotations

from typing import Any, NoReturn

import httpx
import pytest
from starlette.requests import Request

from progress_sse.errors import RateLimited, Unauthorized
from progress_sse.web.security.auth import authenticate
from progress_sse.web.security.websession import COOKIE
from tests.integration.test_abuse import assert_limited
from tests.support import run_server

LIMIT = 5
LIMITED = "203.0.113.7"  # documentation addresses (RFC 5737)


def garbage(i: int) -> dict[str, str]:
    return {"Authorization": f"Bearer pss_guess{i:04d}"}


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_the_refused_key_past_the_limit_gets_429_and_then_even_a_good_key_does(
    make_settings: Any, request: pytest.FixtureRequest, storage: str
) -> None:
    shared = request.getfixturevalue("redis_settings") if storage == "redis" else {}
    settings = make_settings(rate_limit_failed_auth=f"{LIMIT}/minute", **shared)
    async with run_server(settings) as srv, srv.client(tenant="") as client:
        good = {"Authorization": f"Bearer {srv.keys['acme']}"}
        successes = [await client.get("/api/runs", headers=good) for _ in range(LIMIT + 3)]
        refused = [await client.get("/api/runs", headers=garbage(i)) for i in range(LIMIT + 1)]
        good_after = await client.get("/api/runs", headers=good)
        sign_in = await client.post("/api/session", json={"api_key": srv.keys["acme"]})
    assert [r.status_code for r in successes] == [200] * (LIMIT + 3), "successes never count"
    assert_limited(sign_in, "rate_limited_failed_auth")  # signing in is no way around it
    assert [r.status_code for r in refused[:LIMIT]] == [401] * LIMIT
    assert_limited(refused[LIMIT], "rate_limited_failed_auth")
    # Simplest and safest: a limited address is refused even with a good key.
    assert_limited(good_after, "rate_limited_failed_auth")


async def test_refused_session_cookies_count_and_requests_without_credentials_do_not(
    make_settings: Any,
) -> None:
    settings = make_settings(rate_limit_failed_auth=f"{LIMIT}/minute")
    async with run_server(settings) as srv, srv.client(tenant="") as client:
        anonymous = [await client.get("/api/runs") for _ in range(LIMIT + 3)]
        client.cookies.set(COOKIE, "forged.value.here")
        forged = [await client.get("/api/runs") for _ in range(LIMIT + 1)]
    assert [r.status_code for r in anonymous] == [401] * (LIMIT + 3)
    assert [r.status_code for r in forged[:LIMIT]] == [401] * LIMIT
    assert_limited(forged[LIMIT], "rate_limited_failed_auth")


class NoQueries:
    """Stands in for the sessionmaker: a lookup would fail the test."""

    def __call__(self) -> NoReturn:
        raise AssertionError("a limited address must cost no query")


def request_from(address: str, key: str) -> Request:
    headers = [(b"authorization", f"Bearer {key}".encode())]
    return Request({"type": "http", "headers": headers, "client": (address, 4711)})


async def test_a_limited_address_costs_no_query_and_other_addresses_go_on(
    make_settings: Any,
) -> None:
    settings = make_settings(rate_limit_failed_auth=f"{LIMIT}/minute")
    async with run_server(settings) as srv:
        limits, sessions = srv.services.rate_limits, srv.services.sessions
        for i in range(LIMIT):
            with pytest.raises(Unauthorized):
                await authenticate(sessions, request_from(LIMITED, f"pss_guess{i}"), None, limits)
        with pytest.raises(RateLimited) as limited:
            await authenticate(
                NoQueries(),  # type: ignore[arg-type]
                request_from(LIMITED, srv.keys["acme"]),
                None,
                limits,
            )
        elsewhere = await authenticate(
            sessions, request_from("198.51.100.2", srv.keys["acme"]), None, limits
        )
        async with httpx.AsyncClient(base_url=srv.base_url) as loopback:
            unaffected = await loopback.get(
                "/api/runs", headers={"Authorization": f"Bearer {srv.keys['acme']}"}
            )
    assert limited.value.code == "rate_limited_failed_auth"
    assert limited.value.extra["retry_after_s"] >= 1
    assert elsewhere.tenant_id == "acme"
    assert unaffected.status_code == 200, "the limit is per address"
