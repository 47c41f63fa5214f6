"""Rate limits per principal and per client address, with the `limits` library.

Memory storage by default (per process); with `PROGRESS_SSE_REDIS_URL` every
process shares one Redis, so a limit holds across workers and hosts. A moving
window has no burst at window edges. If Redis is unreachable the limits fail
open (logged once a minute): a broken limiter must not take the service down.
"""

from __future__ import annotations

import logging
import math
import time
from enum import StrEnum
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from progress_sse.errors import RateLimited
from progress_sse.ops.tasks import ThrottledWarning

log = logging.getLogger(__name__)


class Scope(StrEnum):
    """What a limit counts; each has its own setting and its own message."""

    REQUESTS = "requests"  # every authenticated request, per principal
    STARTS = "starts"  # runs started, per principal
    SIGN_IN = "sign_in"  # session sign-ins, per client address (key guessing)
    FAILED_AUTH = "failed_auth"  # refused keys and sessions, per client address


MESSAGES = {
    Scope.REQUESTS: "Too many requests with this key; slow down and retry in {s} s.",
    Scope.STARTS: "Too many runs started with this key; you can start another in {s} s.",
    Scope.SIGN_IN: "Too many sign-in attempts from this address; try again in {s} s.",
    Scope.FAILED_AUTH: "Too many refused keys from this address; try again in {s} s.",
}


def redis_storage_url(redis_url: str) -> str:
    """`redis://host:port/db` as the `limits` async storage URL."""
    scheme, sep, rest = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss"):
        raise ValueError("PROGRESS_SSE_REDIS_URL must start with redis:// or rediss://")
    return f"async+{scheme}://{rest}"


class RateLimits:
    """One limiter per process; `hit` raises `RateLimited` with the seconds to wait."""

    def __init__(
        self, limits: dict[Scope, str], redis_url: str | None = None, prefix: str = "pss"
    ) -> None:
        self.items: dict[Scope, RateLimitItem] = {s: parse(v) for s, v in limits.items() if v}
        self._pool: Any = None
        self.storage: Storage = MemoryStorage()
        if redis_url:
            from redis.asyncio import ConnectionPool  # only needed when Redis is configured

            # Our own pool, so shutdown can close its sockets; short timeouts so an
            # unreachable Redis costs a request a second at most, then fails open.
            self._pool = ConnectionPool.from_url(
                redis_url, socket_timeout=1, socket_connect_timeout=1
            )
            self.storage = RedisStorage(
                redis_storage_url(redis_url), implementation="redispy", key_prefix=prefix,
                connection_pool=self._pool,
            )  # fmt: skip
        self.limiter = MovingWindowRateLimiter(self.storage)
        self._warn = ThrottledWarning(log, "rate limits not enforced: storage unavailable (%s)")

    async def hit(self, scope: Scope, identity: str) -> None:
        item = self.items.get(scope)
        if item is None:
            return
        try:
            if await self.limiter.hit(item, scope.value, identity):
                return
            stats = await self.limiter.get_window_stats(item, scope.value, identity)
        except Exception as exc:  # the storage is down: fail open, loudly
            self._warn(exc)
            return
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            MESSAGES[scope].format(s=retry_after),
            code=f"rate_limited_{scope.value}",
            retry_after_s=retry_after,
            limit=str(item),
        )

    async def over(self, scope: Scope, identity: str) -> bool:
        """Whether `identity` has no hit left in `scope`'s window (without taking one).

        Fails open, as `hit` does: with the storage down nothing is over.
        """
        item = self.items.get(scope)
        if item is None:
            return False
        try:
            return not await self.limiter.test(item, scope.value, identity)
        except Exception as exc:
            self._warn(exc)
            return False

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.disconnect()
