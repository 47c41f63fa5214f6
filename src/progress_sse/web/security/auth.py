"""API keys: creation (shown once), hashing, and turning a request into a principal."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from progress_sse.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from progress_sse.runs.events import utc_now
from progress_sse.runs.models import ApiKey, BrowserSession, Tenant
from progress_sse.web.security.ratelimit import RateLimits, Scope
from progress_sse.web.security.websession import (
    COOKIE,
    SessionCodec,
    SessionCookie,
    check_csrf,
    revoke_sessions,
)

KEY_PREFIX = "pss_"


class Role(StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    role: Role
    key_id: int
    key_prefix: str
    session_id: str | None = None  # the browser session it came through, if any

    def require_admin(self) -> None:
        if self.role is not Role.ADMIN:
            raise Forbidden("This action needs an admin key.", code="admin_required")


def hash_key(key: str) -> str:
    """Keys are 256 random bits, so one SHA-256 is enough; only the hash is stored."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


async def ensure_tenant(session: AsyncSession, tenant_id: str, name: str | None = None) -> Tenant:
    if (
        not tenant_id
        or len(tenant_id) > 64
        or not tenant_id.replace("-", "").replace("_", "").isalnum()
    ):
        raise ValidationFailed(
            "A tenant id is 1-64 letters, digits, '-' or '_'.", code="bad_tenant"
        )
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        tenant = Tenant(id=tenant_id, name=name or tenant_id, created_at=utc_now())
        session.add(tenant)
        await session.flush()
    return tenant


async def create_key(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str, role: Role, name: str = ""
) -> str:
    """Create the tenant if needed and a key for it; returns the key (never stored)."""
    key = new_key()
    async with sessions.begin() as session:
        await ensure_tenant(session, tenant_id)
        session.add(
            ApiKey(
                tenant_id=tenant_id,
                key_hash=hash_key(key),
                prefix=key[: len(KEY_PREFIX) + 6],
                role=role.value,
                name=name,
                created_at=utc_now(),
            )
        )
    return key


def bearer_token(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def client_address(conn: HTTPConnection) -> str:
    return conn.client.host if conn.client else "unknown"


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    conn: HTTPConnection,
    codec: SessionCodec | None = None,
    limits: RateLimits | None = None,
) -> Principal:
    """The caller behind `Authorization: Bearer <key>` or a browser session cookie, or 401.

    Each refused key or session counts against the client address
    (`Scope.FAILED_AUTH`). An address over that limit gets 429 before any
    lookup, even with a good key: a guessing client stops costing queries.
    """
    token = bearer_token(conn)
    if token is None and (codec is None or COOKIE not in conn.cookies):
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <api key>'.")
    address = client_address(conn)
    await refuse_if_over_limit(limits, address)
    try:
        if token is not None:
            key = await _key_where(sessions, ApiKey.key_hash == hash_key(token))
            if key is None:
                raise Unauthorized("The API key is not valid.", code="invalid_key")
            return _principal(key)
        assert codec is not None
        web = codec.read(conn)
        assert web is not None
        key = await _session_key(sessions, web)
    except Unauthorized:
        if limits is not None:
            await limits.hit(Scope.FAILED_AUTH, address)  # 429 instead once over the limit
        raise
    check_csrf(conn, web)  # a 403 is an authenticated caller: it does not count
    return _principal(key, web.row_id)


async def refuse_if_over_limit(limits: RateLimits | None, address: str) -> None:
    """429 with Retry-After when the address already used up its refused attempts."""
    if limits is not None and await limits.over(Scope.FAILED_AUTH, address):
        await limits.hit(Scope.FAILED_AUTH, address)  # over: raises 429 with the wait


async def _session_key(sessions: async_sessionmaker[AsyncSession], web: SessionCookie) -> ApiKey:
    """The key behind a live session: one query, the session row by its primary key joined
    to its key; 401 `invalid_session` saying why otherwise."""
    query = (
        sa.select(ApiKey, BrowserSession.expires_at, BrowserSession.revoked_at)
        .join(BrowserSession, BrowserSession.key_id == ApiKey.id)
        .where(BrowserSession.id == web.row_id)
    )
    async with sessions() as session:
        row = (await session.execute(query)).one_or_none()
    if row is None:
        raise Unauthorized("This session has ended; sign in again.", code="invalid_session")
    key, expires_at, revoked_at = row
    if key.revoked_at is not None:
        why = "The key behind this session was revoked; sign in with another key."
    elif revoked_at is not None:
        why = "This session was signed out; sign in again."
    elif expires_at <= utc_now():
        why = "This session has expired; sign in again."
    else:
        return key
    raise Unauthorized(why, code="invalid_session")


async def key_for(sessions: async_sessionmaker[AsyncSession], token: str) -> Principal | None:
    key = await _key_where(sessions, ApiKey.key_hash == hash_key(token))
    return _principal(key) if key is not None else None


async def _key_where(sessions: async_sessionmaker[AsyncSession], condition: Any) -> ApiKey | None:
    async with sessions() as session:
        return (
            await session.execute(sa.select(ApiKey).where(condition, ApiKey.revoked_at.is_(None)))
        ).scalar_one_or_none()


def _principal(key: ApiKey, session_id: str | None = None) -> Principal:
    return Principal(
        tenant_id=key.tenant_id, role=Role(key.role), key_id=key.id, key_prefix=key.prefix,
        session_id=session_id,
    )  # fmt: skip


async def recently_revoked(
    sessions: async_sessionmaker[AsyncSession], window_s: float
) -> tuple[set[int], set[str]]:
    """Keys and browser sessions revoked (or sessions expired) in the last `window_s`.

    Every process asks this often and ends the open streams of what it names
    (`Hub.revoke`), so a sign-out or a key revocation made anywhere ends the
    streams it authorised everywhere, within that period.
    """
    since = utc_now() - timedelta(seconds=window_s)
    async with sessions() as session:
        keys = await session.scalars(sa.select(ApiKey.id).where(ApiKey.revoked_at >= since))
        ended = await session.scalars(
            sa.select(BrowserSession.id).where(
                sa.or_(
                    BrowserSession.revoked_at >= since,
                    BrowserSession.expires_at.between(since, utc_now()),
                )
            )
        )
        return set(keys), set(ended)


async def list_keys(
    sessions: async_sessionmaker[AsyncSession], tenant_id: str | None = None
) -> list[ApiKey]:
    """Every key (or one tenant's), oldest first; hashes stay in the database."""
    query = sa.select(ApiKey).order_by(ApiKey.id)
    if tenant_id is not None:
        query = query.where(ApiKey.tenant_id == tenant_id)
    async with sessions() as session:
        return list((await session.execute(query)).scalars())


async def revoke_key(sessions: async_sessionmaker[AsyncSession], which: str) -> ApiKey:
    """Revoke a key by its id or its printed prefix; its browser sessions end with it."""
    condition = ApiKey.id == int(which) if which.isdigit() else ApiKey.prefix == which
    async with sessions.begin() as session:
        found = list((await session.execute(sa.select(ApiKey).where(condition))).scalars())
        if not found:
            raise NotFound(f"No API key matches {which!r}; `keys list` shows ids and prefixes.")
        if len(found) > 1:
            raise Conflict(f"{len(found)} keys share the prefix {which!r}; revoke one by its id.")
        key = found[0]
        if key.revoked_at is None:
            key.revoked_at = utc_now()
        # Its sessions already fail (their key is revoked); marking them says why, for good.
        await revoke_sessions(session, key.tenant_id, key.id)
        return key


class KeyUsage:
    """Records each key's last use, at most once a minute per key and process.

    Writing on every request would turn every read into a write; a minute is
    precise enough to tell an operator whether a key is still in use.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], every_s: float = 60.0) -> None:
        self.sessions = sessions
        self.every_s = every_s
        self._written: dict[int, float] = {}

    async def touch(self, key_id: int) -> None:
        now = time.monotonic()
        if now - self._written.get(key_id, -self.every_s) < self.every_s:
            return
        self._written[key_id] = now
        async with self.sessions.begin() as session:
            await session.execute(
                sa.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utc_now())
            )
