"""Caps on concurrent event streams, per API key and per tenant.

A stream takes a slot before its response starts; over a cap the request gets
`429` with `Retry-After`, never a hang. In memory the counts are this
process's. With Redis they are shared: each slot is a member of two sorted
sets (key and tenant) scored by a lease expiry, which this process renews while
the stream lives. A crashed process's slots expire by themselves, and no count
can drift.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

from progress_sse.errors import RateLimited
from progress_sse.ops.tasks import ThrottledWarning, cancel_and_wait

log = logging.getLogger(__name__)
STREAM_RETRY_AFTER_S = 5  # a slot frees when some watcher leaves; try again soon


@dataclass(frozen=True, slots=True)
class Slot:
    tenant_id: str
    key_id: str
    token: str
    tracked: bool = True


def refuse(over: str, limit: int) -> RateLimited:
    who = "this key" if over == "key" else "this tenant"
    return RateLimited(
        f"Too many open event streams for {who} (at most {limit}); close one or retry "
        f"in {STREAM_RETRY_AFTER_S} s.",
        code="too_many_streams",
        retry_after_s=STREAM_RETRY_AFTER_S,
        limit=limit,
    )


class StreamSlots(Protocol):
    async def acquire(self, tenant_id: str, key_id: str) -> Slot: ...
    async def release(self, slot: Slot) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class MemoryStreamSlots:
    """This process's streams only (the default; use Redis when several processes serve)."""

    def __init__(self, per_key: int, per_tenant: int) -> None:
        self.per_key = per_key
        self.per_tenant = per_tenant
        self.by_key: Counter[str] = Counter()
        self.by_tenant: Counter[str] = Counter()

    async def acquire(self, tenant_id: str, key_id: str) -> Slot:
        if self.by_key[key_id] >= self.per_key:
            raise refuse("key", self.per_key)
        if self.by_tenant[tenant_id] >= self.per_tenant:
            raise refuse("tenant", self.per_tenant)
        self.by_key[key_id] += 1
        self.by_tenant[tenant_id] += 1
        return Slot(tenant_id, key_id, "")

    async def release(self, slot: Slot) -> None:
        for counter, name in ((self.by_key, slot.key_id), (self.by_tenant, slot.tenant_id)):
            counter[name] -= 1
            if counter[name] <= 0:
                del counter[name]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


# KEYS: key set, tenant set. ARGV: member, lease seconds, key cap, tenant cap.
# Redis's own clock scores the leases, so hosts with skewed clocks agree.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 2 end
local lease = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('ZADD', KEYS[2], now + lease, ARGV[1])
redis.call('EXPIRE', KEYS[1], math.ceil(lease * 2))
redis.call('EXPIRE', KEYS[2], math.ceil(lease * 2))
return 0
"""

# KEYS: pairs of (key set, tenant set). ARGV: lease seconds, then one member per pair.
RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local lease = tonumber(ARGV[1])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', now + lease, ARGV[math.floor((i + 1) / 2) + 1])
  redis.call('EXPIRE', KEYS[i], math.ceil(lease * 2))
end
return 0
"""


class RedisStreamSlots:
    """Caps shared by every process through one Redis."""

    def __init__(
        self, redis_url: str, per_key: int, per_tenant: int, lease_s: float, prefix: str = "pss"
    ) -> None:
        from redis.asyncio import Redis  # only needed when Redis is configured

        self.redis: Any = Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1)
        self.per_key = per_key
        self.per_tenant = per_tenant
        self.lease_s = lease_s
        self.prefix = prefix
        self.live: set[Slot] = set()
        self._acquire = self.redis.register_script(ACQUIRE)
        self._renew = self.redis.register_script(RENEW)
        self._task: asyncio.Task[None] | None = None
        self._warn = ThrottledWarning(log, "stream caps not shared: Redis unavailable (%s)")

    def _keys(self, slot: Slot) -> list[str]:
        head = f"{self.prefix}:streams"
        return [f"{head}:key:{slot.key_id}", f"{head}:tenant:{slot.tenant_id}"]

    async def acquire(self, tenant_id: str, key_id: str) -> Slot:
        slot = Slot(tenant_id, key_id, secrets.token_hex(8))
        try:
            over = await self._acquire(
                keys=self._keys(slot),
                args=[slot.token, self.lease_s, self.per_key, self.per_tenant],
            )
        except Exception as exc:  # Redis is down: fail open, loudly
            self._warn(exc)
            return Slot(tenant_id, key_id, slot.token, tracked=False)
        if int(over) == 1:
            raise refuse("key", self.per_key)
        if int(over) == 2:
            raise refuse("tenant", self.per_tenant)
        self.live.add(slot)
        return slot

    async def release(self, slot: Slot) -> None:
        self.live.discard(slot)
        if not slot.tracked:
            return
        try:
            key_set, tenant_set = self._keys(slot)
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zrem(key_set, slot.token)
                pipe.zrem(tenant_set, slot.token)
                await pipe.execute()
        except Exception as exc:  # the lease expires by itself
            self._warn(exc)

    async def renew(self) -> None:
        slots = list(self.live)
        for start in range(0, len(slots), 500):
            batch = slots[start : start + 500]
            keys = [k for slot in batch for k in self._keys(slot)]
            await self._renew(keys=keys, args=[self.lease_s, *[s.token for s in batch]])

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.renew()
            except Exception as exc:
                self._warn(exc)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._renew_forever(), name="stream-slot-renewal")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        for slot in list(self.live):
            await self.release(slot)
        await self.redis.aclose()
