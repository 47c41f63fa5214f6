"""The service inside another application, under a path prefix: its API, its streams, its
sessions and its page all live under that prefix, and the parent's own routes are untouched."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from progress_sse import create_app
from progress_sse.settings import Settings
from progress_sse.web.security.auth import Role, create_key
from progress_sse.web.services import Services
from tests.support import collect, serving

PREFIX = "/progress"


async def home(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("the parent's own page")


@pytest.fixture
async def mounted(settings: Settings) -> AsyncIterator[tuple[str, str]]:
    """A parent app with the service mounted at /progress: (base URL, an admin key)."""
    progress = create_app(settings)
    parent = Starlette(
        routes=[Route("/", home), Mount(PREFIX, app=progress)], lifespan=progress.lifespan
    )
    async with serving(parent) as base_url:
        svc = progress.state.services
        assert isinstance(svc, Services)
        yield base_url, await create_key(svc.sessions, "acme", Role.ADMIN)


async def test_runs_start_stream_and_link_under_the_prefix(mounted: tuple[str, str]) -> None:
    base_url, key = mounted
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        started = await client.post(
            f"{PREFIX}/api/runs", json={"kind": "demo", "params": {"items": 3, "delay_ms": 0}}
        )
        body = started.json()
        frames = await collect(client, body["events_url"])
        shown = (await client.get(body["url"])).json()["data"]
        listed = (await client.get(f"{PREFIX}/api/runs")).json()["data"]
        outside = await client.get("/api/runs")
    assert started.status_code == 202
    assert body["url"] == started.headers["location"] == f"{PREFIX}/api/runs/{body['id']}"
    assert body["events_url"] == f"{PREFIX}/api/runs/{body['id']}/events"
    assert [f.event for f in frames][-2:] == ["complete", "end"]
    assert shown["status"] == "completed" and shown["url"] == body["url"]
    assert listed[0]["events_url"] == body["events_url"]
    assert outside.status_code == 404, "nothing of the service outside its prefix"


async def test_the_page_health_and_the_parent_s_routes_answer(mounted: tuple[str, str]) -> None:
    base_url, _key = mounted
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        page = await client.get(f"{PREFIX}/")
        health = await client.get(f"{PREFIX}/healthz")
        ready = await client.get(f"{PREFIX}/readyz")
        parent = await client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert health.json() == {"status": "ok"} and ready.json()["status"] == "ready"
    assert parent.text == "the parent's own page"


async def test_a_browser_session_is_scoped_to_the_prefix(mounted: tuple[str, str]) -> None:
    base_url, key = mounted
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        signed_in = await client.post(f"{PREFIX}/api/session", json={"api_key": key})
        cookie = signed_in.headers["set-cookie"]
        me = await client.get(f"{PREFIX}/api/session")
        csrf = signed_in.json()["csrf_token"]
        out = await client.delete(f"{PREFIX}/api/session", headers={"X-CSRF-Token": csrf})
    assert signed_in.status_code == 200 and me.status_code == 200
    assert f"Path={PREFIX}/" in cookie and "HttpOnly" in cookie
    assert out.status_code == 200 and f"Path={PREFIX}/" in out.headers["set-cookie"]
