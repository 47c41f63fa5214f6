"""The event streams' own way in (web/streamfront.py): below no middleware, and still
answering, guarding, logging and sharing across origins exactly as the stack does."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from progress_sse import create_app
from progress_sse.settings import Settings
from progress_sse.web.security.auth import Role, create_key
from progress_sse.web.services import Services
from tests.support import Server, collect, run_server, serving, start_run, wait_for

APP_ORIGIN = "https://app.example"
EVIL = "https://evil.example"
CORS_HEADERS = ("access-control-allow-origin", "access-control-expose-headers", "vary")
ACCESS_LINE = re.compile(r"^127\.0\.0\.1 (?P<request>\S+ \S+) (?P<status>\d{3}) \d+\.\dms$")


def cors_of(response: httpx.Response) -> dict[str, str | None]:
    return {name: response.headers.get(name) for name in CORS_HEADERS}


async def stack_frames_of_open_streams() -> list[list[str]]:
    """The coroutine chain of every request task now suspended in an event stream."""
    chains = []
    for task in asyncio.all_tasks():
        chain: list[str] = []
        coro: Any = task.get_coro()
        while coro is not None and hasattr(coro, "cr_code"):
            chain.append(f"{coro.cr_code.co_filename}:{coro.cr_code.co_qualname}")
            coro = coro.cr_await
        if any(link.endswith(":_live") for link in chain):
            chains.append(chain)
    return chains


async def test_an_open_stream_has_no_middleware_router_or_route_on_its_stack(
    server: Server,
) -> None:
    async with server.client() as acme:
        run_id = await start_run(acme, items=2000, delay_ms=10)
        try:
            async with acme.stream("GET", f"/api/runs/{run_id}/events") as stream:
                lines = stream.aiter_lines()
                await anext(lines)  # the stream is open
                chains = await wait_for(stack_frames_of_open_streams, limit_s=10)
        finally:
            await acme.post(f"/api/runs/{run_id}/cancel")
    assert len(chains) == 1
    chain = chains[0]
    assert any(link.endswith("streamfront.py:StreamFront._serve") for link in chain), chain
    stack_links = [
        link
        for link in chain
        if "/starlette/middleware/" in link
        or "/starlette/routing.py" in link
        or "/starlette/_exception_handler.py" in link
        or "/progress_sse/web/middleware/" in link
    ]
    assert stack_links == [], chain


class Marker:
    """A middleware that records the paths it is called for."""

    def __init__(self, app: ASGIApp, seen: list[str]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append(f"{scope['method']} {scope['path']}")
        await self.app(scope, receive, send)


@pytest.fixture
async def marked(settings: Settings) -> AsyncIterator[tuple[str, str, list[str]]]:
    """The service with a marker middleware added: (base URL, a key, the paths it saw)."""
    seen: list[str] = []
    app = create_app(settings)
    app.add_middleware(Marker, seen=seen)
    async with serving(app) as base_url:
        svc = app.state.services
        assert isinstance(svc, Services)
        yield base_url, await create_key(svc.sessions, "acme", Role.ADMIN), seen


async def test_middleware_sees_every_request_but_the_streams(
    marked: tuple[str, str, list[str]],
) -> None:
    base_url, key, seen = marked
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        run_id = await start_run(client, items=2, delay_ms=0)
        frames = await collect(client, f"/api/runs/{run_id}/events")
        shown = await client.get(f"/api/runs/{run_id}")
        posted = await client.post(f"/api/runs/{run_id}/events")
        longer = await client.get(f"/api/runs/{run_id}/events/extra")
        empty = await client.get("/api/runs//events")
        batch = await client.get("/api/batches/nope/events")
        batch_shown = await client.get("/api/batches/nope")
    assert frames[-1].event == "end" and shown.status_code == 200
    assert posted.status_code == 405, "other methods go through the stack, as before"
    assert longer.status_code == empty.status_code == 404
    assert longer.json()["error"]["code"] == "not_found"
    assert batch.status_code == 404 and batch.json() == batch_shown.json()
    assert seen == [
        "POST /api/runs",
        f"GET /api/runs/{run_id}",
        f"POST /api/runs/{run_id}/events",
        f"GET /api/runs/{run_id}/events/extra",
        "GET /api/runs//events",
        "GET /api/batches/nope",
    ]


async def test_a_stream_without_a_key_or_of_another_tenant_is_refused_as_elsewhere(
    server: Server,
) -> None:
    async with server.client() as acme, server.client("globex") as globex:
        run_id = await start_run(acme, items=2, delay_ms=0)
        async with server.client(tenant="") as anonymous:
            no_key = await anonymous.get(f"/api/runs/{run_id}/events")
            no_key_elsewhere = await anonymous.get(f"/api/runs/{run_id}")
        theirs = await globex.get(f"/api/runs/{run_id}/events")
        theirs_elsewhere = await globex.get(f"/api/runs/{run_id}")
        their_batch = await globex.get(f"/api/batches/{run_id}/events")
        ours = await collect(acme, f"/api/runs/{run_id}/events")
    assert no_key.status_code == 401 and no_key.json() == no_key_elsewhere.json()
    assert theirs.status_code == 404 and theirs.json() == theirs_elsewhere.json()
    assert their_batch.status_code == 404
    assert ours[-1].event == "end"


async def test_streams_over_the_key_cap_get_429(make_settings: Any) -> None:
    async with run_server(make_settings(max_streams_per_key=1)) as srv, srv.client() as acme:
        run_id = await start_run(acme, items=2000, delay_ms=10)
        try:
            async with acme.stream("GET", f"/api/runs/{run_id}/events") as first:
                lines = first.aiter_lines()
                await anext(lines)
                over = await acme.get(f"/api/runs/{run_id}/events")
        finally:
            await acme.post(f"/api/runs/{run_id}/cancel")
    assert first.status_code == 200
    assert over.status_code == 429 and int(over.headers["retry-after"]) >= 1
    assert over.json()["error"]["code"] == "too_many_streams"


async def test_an_unexpected_error_is_the_stack_s_500_json(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the secret internals of a failure")

    async with server.client() as acme:
        run_id = await start_run(acme, items=2, delay_ms=0)
        monkeypatch.setattr(server.services.liveness, "checked", broken)
        with caplog.at_level(logging.ERROR):
            stream = await acme.get(f"/api/runs/{run_id}/events")
            shown = await acme.get(f"/api/runs/{run_id}")
    assert stream.status_code == shown.status_code == 500
    assert stream.json() == shown.json()
    assert stream.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in stream.text and "Traceback" not in stream.text
    assert "secret internals" in caplog.text, "the log has it"


@pytest.mark.parametrize("origin", [APP_ORIGIN, EVIL, None])
async def test_cors_headers_of_a_stream_are_the_stack_s(
    make_settings: Any, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    async with run_server(make_settings(cors_origins=APP_ORIGIN)) as srv, srv.client() as acme:
        run_id = await start_run(acme, items=2, delay_ms=0)
        await collect(acme, f"/api/runs/{run_id}/events")
        stream = await acme.get(f"/api/runs/{run_id}/events", headers=headers)
        shown = await acme.get(f"/api/runs/{run_id}", headers=headers)
        async with srv.client(tenant="") as anonymous:
            refused = await anonymous.get(f"/api/runs/{run_id}/events", headers=headers)
            refused_elsewhere = await anonymous.get(f"/api/runs/{run_id}", headers=headers)
    assert stream.status_code == 200 and "text/event-stream" in stream.headers["content-type"]
    assert cors_of(stream) == cors_of(shown)
    assert refused.status_code == 401 and cors_of(refused) == cors_of(refused_elsewhere)
    allowed = stream.headers.get("access-control-allow-origin")
    assert allowed == (APP_ORIGIN if origin == APP_ORIGIN else None)
    assert "Origin" in stream.headers["vary"]


async def test_the_access_line_is_the_stack_s_written_when_the_stream_ends(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    def access_lines() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "progress_sse.access"]

    query = "token=hush-hush&last_event_id=0&api_key=pss_secret"
    with caplog.at_level(logging.INFO, logger="progress_sse.access"):
        async with server.client() as acme:
            run_id = await start_run(acme, items=2, delay_ms=0)
            caplog.clear()
            await collect(acme, f"/api/runs/{run_id}/events?{query}")

            async def stream_logged() -> bool:
                return any("/events" in line for line in access_lines())

            await wait_for(stream_logged, limit_s=10)
            await acme.get(f"/api/runs/{run_id}?{query}")
            async with server.client(tenant="") as anonymous:
                await anonymous.get(f"/api/runs/{run_id}/events?{query}")
    lines = access_lines()
    assert len(lines) == 3, lines
    matched = [ACCESS_LINE.match(line) for line in lines]
    assert all(matched), lines
    redacted = "?token=***&last_event_id=0&api_key=***"
    assert [(m["request"], m["status"]) for m in matched if m] == [
        (f"GET /api/runs/{run_id}/events{redacted}", "200"),
        (f"GET /api/runs/{run_id}{redacted}", "200"),
        (f"GET /api/runs/{run_id}/events{redacted}", "401"),
    ]
    assert "hush-hush" not in caplog.text and "pss_secret" not in caplog.text


async def test_the_request_guard_s_checks_hold_for_streams(make_settings: Any) -> None:
    async with run_server(make_settings(max_header_bytes=4096)) as srv, srv.client() as acme:
        run_id = await start_run(acme, items=2, delay_ms=0)
        big = {"X-Filler": "x" * 5000}
        too_big = await acme.get(f"/api/runs/{run_id}/events", headers=big)
        too_big_elsewhere = await acme.get(f"/api/runs/{run_id}", headers=big)
        nul = await acme.get(f"/api/runs/{run_id}/events?last_event_id=%00")
        nul_elsewhere = await acme.get(f"/api/runs/{run_id}?last_event_id=%00")
    assert too_big.status_code == too_big_elsewhere.status_code == 400
    assert too_big.json()["error"]["code"] == "headers_too_large"
    assert too_big_elsewhere.json()["error"]["code"] == "headers_too_large"
    assert nul.status_code == 400 and nul.json() == nul_elsewhere.json()


PREFIX = "/progress"


async def test_a_mounted_service_serves_its_streams_under_the_prefix(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    progress = create_app(settings)
    parent = Starlette(routes=[Mount(PREFIX, app=progress)], lifespan=progress.lifespan)
    async with serving(parent) as base_url:
        svc = progress.state.services
        assert isinstance(svc, Services)
        key = await create_key(svc.sessions, "acme", Role.ADMIN)
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            started = await client.post(
                f"{PREFIX}/api/runs", json={"kind": "demo", "params": {"items": 2, "delay_ms": 0}}
            )
            events_url = started.json()["events_url"]
            with caplog.at_level(logging.INFO, logger="progress_sse.access"):
                frames = await collect(client, events_url)

                async def logged() -> bool:  # with the whole path, as the stack logs it
                    return any(f"GET {events_url} 200" in r.getMessage() for r in caplog.records)

                await wait_for(logged, limit_s=10)
            outside = await client.get(events_url.removeprefix(PREFIX))
            longer = await client.get(f"{events_url}/extra")
    assert events_url.startswith(f"{PREFIX}/api/runs/")
    assert [f.event for f in frames][-2:] == ["complete", "end"]
    assert outside.status_code == 404 and longer.status_code == 404
