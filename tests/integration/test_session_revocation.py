"""Browser sessions end server-side: sign-out, sign out everywhere, key revocation, expiry.

A copy of the cookie (a shared computer, a stolen backup, a proxy log) is
worth nothing once its session has ended, on reads and on writes alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from progress_sse.cli import admin
from progress_sse.runs.events import utc_now
from progress_sse.runs.models import BrowserSession
from progress_sse.web.security.auth import Role, create_key, list_keys, revoke_key
from progress_sse.web.security.websession import COOKIE, session_id
from tests.integration.test_web import browser, sign_in
from tests.support import Server, start_run

START = {"kind": "demo", "params": {"items": 1, "delay_ms": 0}}


async def replay(server: Server, cookie: str, csrf: str) -> tuple[httpx.Response, httpx.Response]:
    """A fresh browser holding a copy of the cookie: one read, one CSRF-protected write."""
    async with browser(server) as copy:
        copy.cookies.set(COOKIE, cookie)
        read = await copy.get("/api/runs")
        write = await copy.post("/api/runs", json=START, headers={"X-CSRF-Token": csrf})
    return read, write


def assert_session_refused(response: httpx.Response, why: str) -> None:
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_session" and why in error["message"], error


@dataclass(frozen=True)
class Signed:
    """A browser signed in with a key: its client, a copy of its cookie, its CSRF token."""

    client: httpx.AsyncClient
    cookie: str
    csrf: str


@contextlib.asynccontextmanager
async def signed_in(server: Server, key: str) -> AsyncIterator[Signed]:
    async with browser(server) as client:
        csrf = await sign_in(client, key)
        cookie = client.cookies.get(COOKIE)
        assert cookie is not None
        yield Signed(client, cookie, csrf)


async def key_id(server: Server, tenant: str, role: str) -> int:
    keys = await list_keys(server.services.sessions, tenant)
    return next(k.id for k in keys if k.role == role)


async def test_a_cookie_replayed_after_sign_out_gets_401_on_reads_and_writes(
    server: Server,
) -> None:
    async with signed_in(server, server.keys["acme"]) as me:
        before_read, before_write = await replay(server, me.cookie, me.csrf)
        out = await me.client.delete("/api/session", headers={"X-CSRF-Token": me.csrf})
    read, write = await replay(server, me.cookie, me.csrf)
    assert before_read.status_code == 200 and before_write.status_code == 202
    assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
    assert_session_refused(read, "signed out")
    assert_session_refused(write, "signed out")


async def test_an_admin_signs_out_every_browser_of_the_tenant(server: Server) -> None:
    async with (
        signed_in(server, server.keys["acme-member"]) as member,
        signed_in(server, server.keys["acme"]) as admin_browser,
        signed_in(server, server.keys["globex"]) as theirs,
    ):
        done = await admin_browser.client.post(
            "/api/admin/sessions/revoke", headers={"X-CSRF-Token": admin_browser.csrf}
        )
        member_after = await member.client.get("/api/runs")
        admin_after = await admin_browser.client.get("/api/runs")
        globex_after = await theirs.client.get("/api/runs")
    read, write = await replay(server, member.cookie, member.csrf)
    assert done.status_code == 200 and done.json() == {"success": True, "revoked": 2}
    for refused in (member_after, admin_after, read, write):  # everywhere: the caller's own too
        assert_session_refused(refused, "signed out")
    assert globex_after.status_code == 200, "another tenant's browsers are untouched"


async def test_an_admin_key_signs_out_one_keys_browsers_only(server: Server) -> None:
    member_id = await key_id(server, "acme", "member")
    async with (
        signed_in(server, server.keys["acme-member"]) as member,
        signed_in(server, server.keys["acme"]) as other,
        server.client("acme") as acme,
    ):
        done = await acme.post("/api/admin/sessions/revoke", json={"key_id": member_id})
        again = await acme.post("/api/admin/sessions/revoke", json={"key_id": member_id})
        member_after = await member.client.get("/api/runs")
        other_after = await other.client.get("/api/runs")
    assert done.json() == {"success": True, "revoked": 1}
    assert again.json() == {"success": True, "revoked": 0}, "already revoked: nothing to count"
    assert_session_refused(member_after, "signed out")
    assert other_after.status_code == 200, "the admin key's own browser stays signed in"


async def test_a_member_cannot_sign_out_everyone(server: Server) -> None:
    async with (
        signed_in(server, server.keys["acme"]) as victim,
        signed_in(server, server.keys["acme-member"]) as member,
        server.client("acme-member") as bearer,
    ):
        by_key = await bearer.post("/api/admin/sessions/revoke")
        by_cookie = await member.client.post(
            "/api/admin/sessions/revoke", headers={"X-CSRF-Token": member.csrf}
        )
        victim_after = await victim.client.get("/api/runs")
    for refused in (by_key, by_cookie):
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "admin_required"
    assert victim_after.status_code == 200


async def test_another_tenants_key_id_is_404_like_a_missing_one(server: Server) -> None:
    globex_id = await key_id(server, "globex", "admin")
    async with signed_in(server, server.keys["globex"]) as theirs, server.client("acme") as acme:
        foreign = await acme.post("/api/admin/sessions/revoke", json={"key_id": globex_id})
        missing = await acme.post("/api/admin/sessions/revoke", json={"key_id": 999_999})
        bad = await acme.post("/api/admin/sessions/revoke", json={"key_id": "all"})
        theirs_after = await theirs.client.get("/api/runs")
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "key_not_found"
    assert foreign.content == missing.content
    assert bad.status_code == 422
    assert theirs_after.status_code == 200, "globex's browser was not signed out"


async def test_revoking_a_key_ends_its_sessions_and_marks_them_revoked(server: Server) -> None:
    async with signed_in(server, server.keys["acme-member"]) as member:
        before = await member.client.get("/api/runs")
        revoked = await revoke_key(server.services.sessions, server.keys["acme-member"][:10])
        after = await member.client.get("/api/runs")
    read, write = await replay(server, member.cookie, member.csrf)
    async with server.services.sessions() as session:
        row = await session.get(BrowserSession, session_id_of(server, member.cookie))
    assert before.status_code == 200
    for refused in (after, read, write):
        assert_session_refused(refused, "key behind this session was revoked")
    assert row is not None and row.key_id == revoked.id and row.revoked_at is not None


async def test_an_expired_session_gets_401_and_later_sign_ins_purge_it(server: Server) -> None:
    async with signed_in(server, server.keys["acme"]) as me:
        row_id = session_id_of(server, me.cookie)
        async with server.services.sessions.begin() as session:
            await session.execute(
                sa.update(BrowserSession)
                .where(BrowserSession.id == row_id)
                .values(expires_at=utc_now() - timedelta(seconds=1))
            )
        expired = await me.client.get("/api/runs")
        await sign_in(me.client, server.keys["acme"])  # a later sign-in purges expired rows
    read, _write = await replay(server, me.cookie, me.csrf)
    async with server.services.sessions() as session:
        purged = await session.get(BrowserSession, row_id)
    assert_session_refused(expired, "expired")
    assert_session_refused(read, "ended")  # purged: the row is gone, the cookie still refused
    assert purged is None


async def test_a_correctly_signed_cookie_for_an_unknown_session_is_refused(
    server: Server,
) -> None:
    forged = server.services.sessions_codec.serializer.dumps({"s": "made-up", "c": "x"})
    old_format = server.services.sessions_codec.serializer.dumps({"k": 1, "c": "x"})
    unknown, _ = await replay(server, forged, "x")
    before_sessions, _ = await replay(server, old_format, "x")
    assert_session_refused(unknown, "ended")
    assert before_sessions.status_code == 401, "a cookie signed before this release"
    assert before_sessions.json()["error"]["code"] == "invalid_session"


async def test_the_cli_signs_out_a_tenant_everywhere(server: Server) -> None:
    async with (
        signed_in(server, server.keys["acme"]) as me,
        signed_in(server, server.keys["globex"]) as theirs,
    ):
        count = await admin.sign_out(server.services.settings, "acme")
        read, _write = await replay(server, me.cookie, me.csrf)
        theirs_after = await theirs.client.get("/api/runs")
    assert count == 1
    assert_session_refused(read, "signed out")
    assert theirs_after.status_code == 200


def session_id_of(server: Server, cookie: str) -> str:
    """The row id behind a cookie, as the server computes it."""
    data = server.services.sessions_codec.serializer.loads(cookie)
    return session_id(data["s"])


async def test_a_revoked_session_or_key_ends_the_streams_it_opened(server: Server) -> None:
    """Sign-out and key revocation end open streams too, not only later requests."""
    async with server.client() as admin_client:
        run_id = await start_run(admin_client, items=400, delay_ms=50)  # about 20 s
        async with browser(server) as cookie_client:
            await sign_in(cookie_client, server.keys["acme-member"])
            async with cookie_client.stream("GET", f"/api/runs/{run_id}/events") as stream:
                lines = stream.aiter_lines()
                await anext(lines)  # the stream is open
                revoked = await admin_client.post("/api/admin/sessions/revoke", json={})
                rest = await asyncio.wait_for(_drain(lines), 15)  # it ends, well before the run
            again = await cookie_client.get(f"/api/runs/{run_id}/events")
        await admin_client.post(f"/api/runs/{run_id}/cancel")
    assert revoked.status_code == 200 and revoked.json()["revoked"] >= 1
    assert "event: end" not in rest, "closed, not ended: the browser comes back and is refused"
    assert again.status_code == 401


async def test_revoking_a_key_ends_its_bearer_streams(server: Server) -> None:
    key = await create_key(server.services.sessions, "acme", Role.MEMBER, name="watcher")
    async with (
        server.client() as admin_client,
        httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as watcher,
    ):
        run_id = await start_run(admin_client, items=400, delay_ms=50)
        async with watcher.stream("GET", f"/api/runs/{run_id}/events") as stream:
            lines = stream.aiter_lines()
            await anext(lines)
            await revoke_key(server.services.sessions, key[:10])
            await asyncio.wait_for(_drain(lines), 15)
        await admin_client.post(f"/api/runs/{run_id}/cancel")


async def _drain(lines: Any) -> list[str]:
    return [line async for line in lines]
