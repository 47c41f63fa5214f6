"""Browser sessions (cookie + CSRF) and the page's caching contract."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import sqlalchemy as sa

from progress_sse.runs.events import utc_now
from progress_sse.runs.models import ApiKey
from progress_sse.web.api.static import load_page
from tests.support import Server, collect


def browser(server: Server, **kwargs: object) -> httpx.AsyncClient:
    """A client without an Authorization header: it has only what a browser has."""
    return server.client(tenant="", **kwargs)  # type: ignore[arg-type]


async def sign_in(client: httpx.AsyncClient, key: str) -> str:
    response = await client.post("/api/session", json={"api_key": key})
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


async def test_a_key_becomes_an_httponly_strict_cookie_that_authenticates(server: Server) -> None:
    async with browser(server) as client:
        response = await client.post("/api/session", json={"api_key": server.keys["acme"]})
        cookie = response.headers["set-cookie"]
        body = response.json()
        runs = await client.get("/api/runs")
        me = await client.get("/api/session")
        client.cookies.clear()
        visitor = await client.get("/api/session")
        client.cookies.set("pss_session", "forged.value.here")
        forged = await client.get("/api/session")
    assert response.status_code == 200 and body["tenant"] == "acme" and body["role"] == "admin"
    assert body["signed_in"] is True and me.json()["signed_in"] is True
    assert visitor.status_code == 200 and visitor.json() == {"success": True, "signed_in": False}
    assert forged.status_code == 200 and forged.json()["signed_in"] is False
    assert forged.json()["ended"] == "invalid_session", "it says why"
    assert "pss_session=" in forged.headers["set-cookie"], "and drops the cookie"
    assert body["stale_after_s"] == server.services.settings.stale_after_s, "the page's badge"
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Max-Age=" in cookie
    assert "Secure" not in cookie, "plain HTTP on loopback; Secure over HTTPS"
    assert server.keys["acme"] not in cookie
    assert runs.status_code == 200
    assert me.json()["csrf_token"] == body["csrf_token"]


async def test_the_stream_accepts_the_cookie(server: Server) -> None:
    async with browser(server) as client:
        csrf = await sign_in(client, server.keys["acme"])
        started = await client.post(
            "/api/runs", json={"kind": "demo", "params": {"items": 3, "delay_ms": 0}},
            headers={"X-CSRF-Token": csrf},
        )  # fmt: skip
        frames = await collect(client, started.json()["events_url"])
    assert frames[-2].event == "complete"


async def test_cookie_writes_need_the_csrf_token_and_a_same_site_origin(server: Server) -> None:
    body = {"kind": "demo", "params": {"items": 1, "delay_ms": 0}}
    async with browser(server) as client:
        csrf = await sign_in(client, server.keys["acme"])
        missing = await client.post("/api/runs", json=body)
        wrong = await client.post("/api/runs", json=body, headers={"X-CSRF-Token": "nope"})
        foreign = await client.post(
            "/api/runs", json=body, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
        )
        same = await client.post(
            "/api/runs", json=body, headers={"X-CSRF-Token": csrf, "Origin": server.base_url}
        )
        listed = (await client.get("/api/runs")).json()["data"]
    for refused in (missing, wrong, foreign):
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
    assert same.status_code == 202
    assert len(listed) == 1, "refused requests wrote nothing"


async def test_bad_keys_forged_cookies_and_keys_in_urls_are_refused(server: Server) -> None:
    async with browser(server) as client:
        wrong = await client.post("/api/session", json={"api_key": "pss_wrong"})
        missing = await client.post("/api/session", json={})
        in_url = await client.post(f"/api/session?api_key={server.keys['acme']}", json={})
        assert "set-cookie" not in in_url.headers
        client.cookies.set("pss_session", "forged.value.here")
        forged = await client.get("/api/runs")
    assert wrong.status_code == 401 and missing.status_code == 422 and in_url.status_code == 422
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_session"


async def test_signing_out_clears_the_cookie_and_revoked_keys_end_sessions(server: Server) -> None:
    async with browser(server) as client, browser(server) as other:
        csrf = await sign_in(client, server.keys["acme"])
        out = await client.delete("/api/session", headers={"X-CSRF-Token": csrf})
        after = await client.get("/api/runs")
        await sign_in(other, server.keys["acme-member"])
        async with server.services.sessions.begin() as session:
            await session.execute(
                sa.update(ApiKey).where(ApiKey.role == "member").values(revoked_at=utc_now())
            )
        revoked = await other.get("/api/runs")
    assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
    assert after.status_code == 401
    assert revoked.status_code == 401


async def test_the_page_is_never_cached_and_its_hashed_assets_are_cached_a_year(
    server: Server,
) -> None:
    async with browser(server) as client:
        page = await client.get("/")
        names = re.findall(r'"assets/(app\.[0-9a-f]{12}\.(?:js|css))"', page.text)
        assets = [await client.get(f"/assets/{name}") for name in names]
        unknown = await client.get("/assets/app.000000000000.js")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert page.headers["content-type"].startswith("text/html")
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["css", "js"]
    for asset in assets:
        assert asset.status_code == 200
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (
        assets[[n.endswith(".js") for n in names].index(True)]
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert unknown.status_code == 404
    assert '<progress-run id="progress" controls>' in page.text, "the bar is the client's"


def test_a_changed_asset_gets_a_new_name(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<script src="{{app.js}}"></script>{{app.css}}')
    (tmp_path / "app.css").write_text("body{}")
    (tmp_path / "app.js").write_text("let a = 1;")
    before = load_page(tmp_path, ("app.js", "app.css"))
    (tmp_path / "app.js").write_text("let a = 2;")
    after = load_page(tmp_path, ("app.js", "app.css"))
    assert before.index != after.index
    assert set(before.assets) != set(after.assets)
    assert b"{{" not in after.index


async def test_every_module_the_page_loads_is_served_under_its_hashed_name(
    server: Server,
) -> None:
    """Modules import each other by hashed name, relative to themselves, so a prefix works."""
    async with browser(server) as client:
        page = (await client.get("/")).text
        pending, served = re.findall(r'"assets/([^"]+)"', page), {}
        while pending:
            name = pending.pop()
            if name not in served:
                served[name] = await client.get(f"/assets/{name}")
                pending += re.findall(r'from "\./([^"]+)"', served[name].text)
    stems = sorted(name.split(".")[0] for name in served)
    assert stems == ["accounting", "app", "app", "batch-view", "progress-run", "start-form"]
    for name, answer in served.items():
        assert answer.status_code == 200, name
        assert "{{" not in answer.text, f"{name} names an asset that was not replaced"
        if name.endswith(".js"):
            assert answer.headers["content-type"].startswith("text/javascript"), name


async def test_the_embeddable_client_has_a_stable_url_that_browsers_revalidate(
    server: Server,
) -> None:
    async with browser(server) as client:
        page = (await client.get("/")).text
        [hashed] = re.findall(r'"assets/(progress-run\.[0-9a-f]{12}\.js)"', page)
        pinned = await client.get(f"/assets/{hashed}")
        stable = await client.get("/client/progress-run.js")
        again = await client.get(
            "/client/progress-run.js", headers={"If-None-Match": stable.headers["etag"]}
        )
        other = await client.get("/client/app.js")
    assert stable.status_code == 200 and stable.content == pinned.content
    assert stable.headers["content-type"].startswith("text/javascript")
    assert stable.headers["cache-control"] == "no-cache", "a deploy reaches embedding pages"
    assert again.status_code == 304 and again.content == b""
    assert other.status_code == 404, "only the client has a stable URL"
    assert 'customElements.define("progress-run"' in stable.text
    assert 'role="progressbar"' in stable.text and "aria-valuenow" in stable.text
