"""Browser sessions: an API key exchanged for a signed, HttpOnly, SameSite=Strict cookie.

EventSource cannot send headers, so browsers authenticate with this cookie.
A key never travels in a URL. Every state-changing request that relies on
the cookie must also send the session's CSRF token in `X-CSRF-Token`, and
a matching `Origin` when the browser sends one (OWASP double protection).

The cookie carries a random session token and the CSRF token; the server
keeps one `web_sessions` row per session, keyed by the token's hash. A valid
signature is not enough: signing out, "sign out everywhere" and revoking the
key end a session at once, and a copy of the cookie replayed later gets 401.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from starlette.responses import Response

from progress_sse.errors import Forbidden, NotFound, Unauthorized
from progress_sse.runs.events import utc_now
from progress_sse.runs.models import ApiKey, BrowserSession

log = logging.getLogger(__name__)

COOKIE = "pss_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Expired rows each sign-in deletes: enough to keep up (a sign-in adds one), small
# enough that a backlog never makes one sign-in slow.
PURGE_BATCH = 500


@dataclass(frozen=True, slots=True)
class SessionCookie:
    """What the signed cookie holds: the session's token and its CSRF token."""

    token: str
    csrf: str

    @property
    def row_id(self) -> str:
        return session_id(self.token)


def cookie_path(conn: HTTPConnection) -> str:
    """The cookie goes only to the service: under the path it is mounted at, if any."""
    return str(conn.scope.get("root_path", "")).rstrip("/") + "/"


def session_id(token: str) -> str:
    """The row id of a session token: 256 random bits, so one SHA-256 is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionCodec:
    """Signs and checks session cookies (itsdangerous: HMAC with a timestamp)."""

    def __init__(self, secret: str, ttl_s: int, secure: bool | None) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="progress-sse-session")
        self.ttl_s = ttl_s
        self.secure = secure

    def issue(self, response: Response, conn: HTTPConnection, token: str) -> SessionCookie:
        """Set the cookie for the session `token` (from `open_session`), with a new CSRF token."""
        web = SessionCookie(token=token, csrf=secrets.token_urlsafe(24))
        response.set_cookie(
            COOKIE,
            self.serializer.dumps({"s": token, "c": web.csrf}),
            max_age=self.ttl_s,
            path=cookie_path(conn),
            httponly=True,
            samesite="strict",
            secure=self.secure if self.secure is not None else conn.url.scheme == "https",
        )
        return web

    @staticmethod
    def clear(response: Response, conn: HTTPConnection) -> None:
        response.delete_cookie(COOKIE, path=cookie_path(conn), httponly=True, samesite="strict")

    def read(self, conn: HTTPConnection) -> SessionCookie | None:
        """The cookie's session; None without a cookie; 401 when forged or expired.

        Only the signature is checked here; `auth.authenticate` checks the row.
        """
        raw = conn.cookies.get(COOKIE)
        if raw is None:
            return None
        try:
            data: Any = self.serializer.loads(raw, max_age=self.ttl_s)
        except SignatureExpired:
            raise Unauthorized(
                "Your session has expired; sign in again.", code="session_expired"
            ) from None
        except BadSignature:
            data = None
        if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in "sc"):
            # Forged, or signed before sessions were kept server-side (no token in it).
            raise Unauthorized(
                "The session cookie is not valid; sign in again.", code="invalid_session"
            )
        return SessionCookie(token=data["s"], csrf=data["c"])


def check_csrf(conn: HTTPConnection, session: SessionCookie) -> None:
    """Cookie-authenticated writes need the CSRF token and, if sent, a same-site Origin."""
    if conn.scope.get("method", "GET") in SAFE_METHODS:
        return
    token = conn.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise Forbidden("Missing or wrong CSRF token (X-CSRF-Token).", code="csrf_failed")
    origin = conn.headers.get("origin")
    if origin is not None and origin != f"{conn.url.scheme}://{conn.url.netloc}":
        raise Forbidden("This request comes from another site.", code="csrf_failed")


async def open_session(
    sessions: async_sessionmaker[AsyncSession], key_id: int, tenant_id: str, ttl_s: int
) -> str:
    """Store a new session of the key and return its token (kept only in the cookie).

    Expired rows are purged here, a batch per sign-in: no background task needed.
    """
    token = secrets.token_urlsafe(32)
    now = utc_now()
    async with sessions.begin() as session:
        session.add(
            BrowserSession(
                id=session_id(token), key_id=key_id, tenant_id=tenant_id,
                created_at=now, expires_at=now + timedelta(seconds=ttl_s),
            )
        )  # fmt: skip
    await purge_expired(sessions)
    return token


async def purge_expired(
    sessions: async_sessionmaker[AsyncSession], batch: int = PURGE_BATCH
) -> int:
    """Delete up to `batch` expired sessions (revoked ones too, once expired)."""
    expired = sa.select(BrowserSession.id).where(BrowserSession.expires_at < utc_now()).limit(batch)
    async with sessions.begin() as session:
        result = await session.execute(
            sa.delete(BrowserSession).where(BrowserSession.id.in_(expired.scalar_subquery()))
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def end_session(sessions: async_sessionmaker[AsyncSession], web: SessionCookie) -> None:
    """Sign out: the session's row is marked revoked, so the cookie stops working everywhere."""
    async with sessions.begin() as session:
        await session.execute(
            sa.update(BrowserSession)
            .where(BrowserSession.id == web.row_id, BrowserSession.revoked_at.is_(None))
            .values(revoked_at=utc_now())
        )


async def revoke_sessions(session: AsyncSession, tenant_id: str, key_id: int | None = None) -> int:
    """Mark the tenant's live sessions (or one key's) revoked, in the caller's transaction."""
    now = utc_now()
    query = (
        sa.update(BrowserSession)
        .where(
            BrowserSession.tenant_id == tenant_id,
            BrowserSession.revoked_at.is_(None),
            BrowserSession.expires_at > now,
        )
        .values(revoked_at=now)
    )
    if key_id is not None:
        query = query.where(BrowserSession.key_id == key_id)
    return int((await session.execute(query)).rowcount)  # type: ignore[attr-defined]


async def sign_out_everywhere(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, key_id: int | None, *, by: str
) -> int:
    """End every browser session of the tenant, or of one of its keys (404 for another's)."""
    async with sessions.begin() as session:
        if key_id is not None:
            owner = await session.scalar(sa.select(ApiKey.tenant_id).where(ApiKey.id == key_id))
            if owner != tenant_id:  # another tenant's key is indistinguishable from none
                raise NotFound("No such API key.", code="key_not_found")
        revoked = await revoke_sessions(session, tenant_id, key_id)
    log.warning(
        "audit: %s signed out %d browser session(s) of tenant %s (key %s)",
        by, revoked, tenant_id, "all" if key_id is None else key_id,
    )  # fmt: skip
    return revoked
