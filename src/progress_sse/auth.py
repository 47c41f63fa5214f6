"""API keys: creation (shown once), hashing, and turning a request into a principal."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection

from progress_sse.errors import Forbidden, Unauthorized, ValidationFailed
from progress_sse.events import utc_now
from progress_sse.models import ApiKey, Tenant
from progress_sse.websession import SessionCodec, check_csrf

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


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    conn: HTTPConnection,
    codec: SessionCodec | None = None,
) -> Principal:
    """The caller behind `Authorization: Bearer <key>` or a browser session cookie, or 401."""
    token = bearer_token(conn)
    if token is not None:
        key = await _key_where(sessions, ApiKey.key_hash == hash_key(token))
        if key is None:
            raise Unauthorized("The API key is not valid.", code="invalid_key")
        return _principal(key)
    web = codec.read(conn) if codec is not None else None
    if web is None:
        raise Unauthorized("Authentication required: send 'Authorization: Bearer <api key>'.")
    key = await _key_where(sessions, ApiKey.id == web.key_id)
    if key is None:  # revoked since the session began
        raise Unauthorized("The key behind this session was revoked.", code="invalid_session")
    check_csrf(conn, web)
    return _principal(key)


async def key_for(sessions: async_sessionmaker[AsyncSession], token: str) -> Principal | None:
    key = await _key_where(sessions, ApiKey.key_hash == hash_key(token))
    return _principal(key) if key is not None else None


async def _key_where(sessions: async_sessionmaker[AsyncSession], condition: Any) -> ApiKey | None:
    async with sessions() as session:
        return (
            await session.execute(sa.select(ApiKey).where(condition, ApiKey.revoked_at.is_(None)))
        ).scalar_one_or_none()


def _principal(key: ApiKey) -> Principal:
    return Principal(
        tenant_id=key.tenant_id, role=Role(key.role), key_id=key.id, key_prefix=key.prefix
    )
