"""The notifier: claims due outbox rows and POSTs them, retrying with tenacity.

Only network errors, timeouts, 429 and 5xx are retried, with exponential
backoff and jitter (about 2 s, 4 s, 8 s by default). Every attempt is counted
in the row *before* it is made and extends the row's lease, so a process that
dies mid-retry leaves a row another process resumes once the lease runs out,
with the attempts already spent. After the last attempt the row goes to the
dead-letter table. Redirects are not followed (they could lead inside).

A row of another channel (mail) goes through the same loop, retries and dead
letters; only its one attempt differs: a `Channel` handed in (`mail/smtp.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)

from progress_sse.errors import ValidationFailed
from progress_sse.ops.tasks import cancel_and_wait
from progress_sse.webhooks import payload
from progress_sse.webhooks.models import WEBHOOK, Notification
from progress_sse.webhooks.outbox import Outbox
from progress_sse.webhooks.urls import check_url

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # the first try and three retries: about 2 s, 4 s, 8 s apart
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0
    jitter_s: float = 1.0
    timeout_s: float = 10.0

    @property
    def lease(self) -> timedelta:
        """One attempt, the longest wait before the next, and a timeout's worth of margin."""
        return timedelta(seconds=2 * self.timeout_s + self.max_backoff_s + self.jitter_s)


class DeliveryFailed(Exception):
    """One attempt failed; `retryable` says whether another may succeed."""

    def __init__(self, message: str, status_code: int | None, *, retryable: bool) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class Retryable(DeliveryFailed):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message, status_code, retryable=True)


class Channel(Protocol):
    """One attempt at one outbox row of a channel other than webhooks: its status code
    (e.g. SMTP's 250), or `DeliveryFailed` (`Retryable` when another try may succeed)."""

    async def attempt(self, note: Notification) -> int: ...


def outcome(status_code: int) -> DeliveryFailed | None:
    """2xx is delivered; 429 and 5xx are worth another try; anything else is final."""
    if 200 <= status_code < 300:
        return None
    message = f"HTTP {status_code}"
    if status_code == 429 or status_code >= 500:
        return Retryable(message, status_code)
    return DeliveryFailed(message, status_code, retryable=False)


class Notifier:
    def __init__(
        self,
        outbox: Outbox,
        policy: RetryPolicy,
        *,
        allow_private: bool,
        poll_interval_s: float,
        concurrency: int = 16,
        client: httpx.AsyncClient | None = None,
        channels: Mapping[str, Channel] | None = None,
    ) -> None:
        self.outbox = outbox
        self.channels = dict(channels or {})
        self.policy = policy
        self.allow_private = allow_private
        self.poll_interval_s = poll_interval_s
        self.client = client or httpx.AsyncClient(
            timeout=policy.timeout_s, follow_redirects=False, trust_env=False
        )
        self.concurrency = concurrency
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self.delivered = 0
        self.dead = 0
        self.failed_attempts = 0

    async def start(self) -> None:
        self._loop_task = asyncio.create_task(self._run(), name="webhook-notifier")

    async def stop(self) -> None:
        """Stop claiming; attempts in flight are cancelled (their rows stay pending)."""
        await cancel_and_wait(self._loop_task, *self._tasks)
        await self.client.aclose()

    async def _run(self) -> None:
        while True:
            try:
                free = self.concurrency - len(self._tasks)  # claim no more than we can send
                rows = await self.outbox.claim(free, self.policy.lease) if free > 0 else []
            except Exception:
                log.exception("webhook outbox: claim failed; trying again")
                rows = []
            for row in rows:
                task = asyncio.create_task(self._deliver_logged(row))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not rows:
                await asyncio.sleep(self.poll_interval_s)

    async def _deliver_logged(self, note: Notification) -> None:
        try:
            await self.deliver(note)
        except Exception:
            log.exception("webhook %s: delivery crashed; the lease will hand it on", note.id)

    async def deliver(self, note: Notification) -> bool:
        """Send one notification with retries; True if delivered, False if dead-lettered."""
        attempts = note.attempts
        left = max(1, self.policy.attempts - attempts)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(left),
            wait=wait_exponential_jitter(
                multiplier=self.policy.backoff_s,
                max=self.policy.max_backoff_s,
                jitter=self.policy.jitter_s,
            ),
            retry=retry_if_exception_type(Retryable),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    await self.outbox.record_attempt(note.id, attempts, self.policy.lease)
                    status = await self._post_once(note)
        except DeliveryFailed as exc:
            log.warning(
                "%s %s to endpoint %s failed for good after %d attempt(s): %s",
                note.channel, note.id, note.webhook_id, attempts, exc,
            )  # fmt: skip
            await self.outbox.dead(note, attempts, str(exc), exc.status_code)
            self.dead += 1
            return False
        await self.outbox.delivered(note.id, status)
        self.delivered += 1
        return True

    async def _post_once(self, note: Notification) -> int:
        try:
            return await self._attempt(note)
        except DeliveryFailed:
            self.failed_attempts += 1
            raise

    async def _attempt(self, note: Notification) -> int:
        if note.channel != WEBHOOK:
            return await self._other_channel(note)
        try:
            await check_url(note.url, allow_private=self.allow_private)  # names can move
        except ValidationFailed as exc:
            raise DeliveryFailed(exc.message, None, retryable=False) from None
        secret = await self.outbox.secret_for(note.webhook_id)
        if secret is None:
            raise DeliveryFailed("The webhook was removed.", None, retryable=False)
        body = note.body.encode()
        try:
            response = await self.client.post(
                note.url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "User-Agent": "progress-sse-webhooks",
                    payload.DELIVERY_HEADER: note.id,
                    payload.EVENT_HEADER: note.event,
                    payload.SIGNATURE_HEADER: payload.sign(secret, body),
                },
            )
        except httpx.TimeoutException as exc:
            await self.outbox.record_failure(note.id, f"timeout: {type(exc).__name__}", None)
            raise Retryable(f"timeout ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            await self.outbox.record_failure(note.id, f"{type(exc).__name__}: {exc}", None)
            raise Retryable(f"{type(exc).__name__}: {exc}") from None
        failure = outcome(response.status_code)
        if failure is not None:
            await self.outbox.record_failure(note.id, str(failure), response.status_code)
            raise failure
        return response.status_code

    async def _other_channel(self, note: Notification) -> int:
        channel = self.channels.get(note.channel)
        try:
            if channel is None:  # a dead letter says so, rather than a row pending forever
                raise DeliveryFailed(
                    f"{note.channel} is not configured in this process (docs/mail.md)",
                    None,
                    retryable=False,
                )
            return await channel.attempt(note)
        except DeliveryFailed as exc:
            await self.outbox.record_failure(note.id, str(exc), exc.status_code)
            raise
