"""Browser sessions: an API key exchanged for a signed, HttpOnly, SameSite=Strict cookie.

EventSource cannot send headers, so browsers authenticate with this cookie.
A key never travels in a URL. Every state-changing request that relies on
the cookie must also send the session's CSRF token in `X-CSRF-Token`, and
a matching `Origin` when the browser sends one (OWASP double protection).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from starlette.requests import HTTPConnection
from starlette.responses import Response

from progress_sse.errors import Forbidden, Unauthorized

COOKIE = "pss_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class WebSession:
    key_id: int
    csrf: str


class SessionCodec:
    """Signs and checks session cookies (itsdangerous: HMAC with a timestamp)."""

    def __init__(self, secret: str, ttl_s: int, secure: bool | None) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="progress-sse-session")
        self.ttl_s = ttl_s
        self.secure = secure

    def issue(self, response: Response, conn: HTTPConnection, key_id: int) -> WebSession:
        session = WebSession(key_id=key_id, csrf=secrets.token_urlsafe(24))
        response.set_cookie(
            COOKIE,
            self.serializer.dumps({"k": key_id, "c": session.csrf}),
            max_age=self.ttl_s,
            path="/",
            httponly=True,
            samesite="strict",
            secure=self.secure if self.secure is not None else conn.url.scheme == "https",
        )
        return session

    @staticmethod
    def clear(response: Response) -> None:
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")

    def read(self, conn: HTTPConnection) -> WebSession | None:
        """The cookie's session; None without a cookie; 401 when forged or expired."""
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
            raise Unauthorized(
                "The session cookie is not valid; sign in again.", code="invalid_session"
            ) from None
        return WebSession(key_id=int(data["k"]), csrf=str(data["c"]))


def check_csrf(conn: HTTPConnection, session: WebSession) -> None:
    """Cookie-authenticated writes need the CSRF token and, if sent, a same-site Origin."""
    if conn.scope.get("method", "GET") in SAFE_METHODS:
        return
    token = conn.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(token.encode(), session.csrf.encode()):
        raise Forbidden("Missing or wrong CSRF token (X-CSRF-Token).", code="csrf_failed")
    origin = conn.headers.get("origin")
    if origin is not None and origin != f"{conn.url.scheme}://{conn.url.netloc}":
        raise Forbidden("This request comes from another site.", code="csrf_failed")
