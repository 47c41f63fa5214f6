"""Webhook endpoints, the outbox and the dead letters: every query, each a short transaction.

The outbox and its dead letters carry mail too (`channel` mail, rows written by
`mail/`); claiming, leases, dead letters, retry and cleanup are one for both.

`enqueue` is the exception: it runs inside the transaction that records a
run's terminal state, so the notification exists exactly when the outcome does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.errors import Conflict, NotFound, ValidationFailed
from progress_sse.runs.events import utc_now
from progress_sse.runs.ids import new_run_id
from progress_sse.runs.models import Run
from progress_sse.runs.statuses import RunStatus
from progress_sse.storage import db
from progress_sse.webhooks import payload
from progress_sse.webhooks.models import WEBHOOK, FailedNotification, Notification, Webhook

PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
MAX_WEBHOOKS_PER_TENANT = 50


async def enqueue(session: AsyncSession, run: Run) -> int:
    """One outbox row per endpoint subscribed to this ending (same transaction as the ending):
    the run store's finish hook (`RunStore(finish_hooks=...)`)."""
    status, now = RunStatus(run.status), run.finished_at
    assert now is not None, "a finished run"
    event = payload.webhook_event(status, run.error_code)
    hooks = (
        await session.execute(
            sa.select(Webhook).where(Webhook.tenant_id == run.tenant_id, Webhook.channel == WEBHOOK)
        )
    ).scalars()
    summary = payload.run_summary(
        run_id=run.id,
        tenant_id=run.tenant_id,
        kind=run.kind,
        status=status.value,
        message=run.message,
        error=run.error,
        error_code=run.error_code,
        result=run.result,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=now,
    )
    rows = []
    for hook in hooks:
        if event not in hook.events:
            continue
        delivery_id = new_run_id()
        rows.append(
            {
                "id": delivery_id,
                "tenant_id": run.tenant_id,
                "webhook_id": hook.id,
                "run_id": run.id,
                "event": event,
                "url": hook.url,
                "body": payload.body(
                    delivery_id=delivery_id, event=event, run=summary, created_at=now
                ),
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
        )
    if rows:
        await session.execute(sa.insert(Notification), rows)
    return len(rows)


class Outbox:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # -- endpoints --------------------------------------------------------------------

    async def add_webhook(
        self,
        tenant_id: str,
        url: str,
        events: Sequence[str],
        *,
        secret: str | None = None,
        description: str = "",
        by: str | None = None,
    ) -> Webhook:
        unknown = sorted(set(events) - set(payload.EVENTS))
        if not events or unknown:
            raise ValidationFailed(
                f"'events' must be a non-empty list of: {', '.join(payload.EVENTS)}.",
                fields=[{"field": "events", "message": "unknown or empty"}],
            )
        if secret is not None and not 16 <= len(secret) <= 128:
            raise ValidationFailed(
                "'secret' must be 16-128 characters (or leave it out to get one).",
                fields=[{"field": "secret", "message": "16-128 characters"}],
            )
        async with self.sessions.begin() as session:
            count = await session.scalar(
                sa.select(sa.func.count())
                .select_from(Webhook)
                .where(Webhook.tenant_id == tenant_id, Webhook.channel == WEBHOOK)
            )
            if (count or 0) >= MAX_WEBHOOKS_PER_TENANT:
                raise Conflict(
                    f"A tenant may have at most {MAX_WEBHOOKS_PER_TENANT} webhooks.",
                    code="too_many_webhooks",
                )
            hook = Webhook(
                tenant_id=tenant_id,
                url=url,
                secret=secret or payload.new_secret(),
                events=list(dict.fromkeys(events)),
                description=description[:200],
                created_at=utc_now(),
                created_by=by,
            )
            session.add(hook)
        return hook

    async def webhooks(self, tenant_id: str | None) -> list[Webhook]:
        return await self.endpoints(tenant_id, WEBHOOK)

    async def endpoints(self, tenant_id: str | None, channel: str) -> list[Webhook]:
        """The endpoints of one channel (a tenant's; None: every tenant's), oldest first."""
        query = sa.select(Webhook).where(Webhook.channel == channel).order_by(Webhook.id)
        if tenant_id is not None:
            query = query.where(Webhook.tenant_id == tenant_id)
        async with self.sessions() as session:
            return list((await session.execute(query)).scalars())

    async def remove_webhook(self, tenant_id: str | None, webhook_id: int) -> None:
        """Remove an endpoint (another tenant's is "not found"); its notifications go too."""
        await self.remove_endpoint(
            tenant_id, webhook_id, WEBHOOK, NotFound("No such webhook.", code="webhook_not_found")
        )

    async def remove_endpoint(
        self, tenant_id: str | None, webhook_id: int, channel: str, missing: NotFound
    ) -> None:
        """Remove an endpoint of one channel, with its notifications and dead letters."""
        conditions = [Webhook.id == webhook_id, Webhook.channel == channel]
        if tenant_id is not None:
            conditions.append(Webhook.tenant_id == tenant_id)
        async with self.sessions.begin() as session:
            found = await session.scalar(sa.select(Webhook.id).where(*conditions))
            if found is None:
                raise missing
            for table in (FailedNotification, Notification):
                await session.execute(sa.delete(table).where(table.webhook_id == webhook_id))
            await session.execute(sa.delete(Webhook).where(Webhook.id == webhook_id))

    # -- delivering -------------------------------------------------------------------

    async def claim(self, limit: int, lease: timedelta) -> list[Notification]:
        """Due notifications no other worker holds; each is leased to this one."""
        now = utc_now()
        query = (
            sa.select(Notification)
            .where(
                Notification.status == PENDING,
                Notification.next_attempt_at <= now,
                sa.or_(Notification.locked_until.is_(None), Notification.locked_until < now),
            )
            .order_by(Notification.next_attempt_at)
            .limit(limit)
        )
        if db.on_postgresql(self.sessions):
            query = query.with_for_update(skip_locked=True)
        async with self.sessions.begin() as session:
            rows = list((await session.execute(query)).scalars())
            for row in rows:
                row.locked_until = now + lease
        return rows

    async def secret_for(self, webhook_id: int) -> str | None:
        async with self.sessions() as session:
            secret = await session.scalar(sa.select(Webhook.secret).where(Webhook.id == webhook_id))
        return str(secret) if secret is not None else None

    async def record_attempt(self, delivery_id: str, attempts: int, lease: timedelta) -> None:
        """Count an attempt before making it, and keep the lease for the time it may take."""
        await self._update(delivery_id, attempts=attempts, locked_until=utc_now() + lease)

    async def record_failure(self, delivery_id: str, error: str, status_code: int | None) -> None:
        await self._update(delivery_id, last_error=error[:2000], last_status_code=status_code)

    async def delivered(self, delivery_id: str, status_code: int) -> None:
        await self._update(
            delivery_id,
            status=DELIVERED,
            delivered_at=utc_now(),
            last_status_code=status_code,
            locked_until=None,
        )

    async def dead(self, note: Notification, attempts: int, error: str, code: int | None) -> None:
        """The last attempt failed: into the dead-letter table, in one transaction."""
        now = utc_now()
        async with self.sessions.begin() as session:
            await session.execute(
                sa.update(Notification)
                .where(Notification.id == note.id)
                .values(
                    status=DEAD,
                    attempts=attempts,
                    last_error=error[:2000],
                    last_status_code=code,
                    locked_until=None,
                )
            )
            session.add(
                FailedNotification(
                    notification_id=note.id,
                    tenant_id=note.tenant_id,
                    webhook_id=note.webhook_id,
                    run_id=note.run_id,
                    event=note.event,
                    url=note.url,
                    attempts=attempts,
                    last_error=error[:2000],
                    last_status_code=code,
                    failed_at=now,
                    retried=False,
                    channel=note.channel,
                )
            )

    async def _update(self, delivery_id: str, **values: Any) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                sa.update(Notification).where(Notification.id == delivery_id).values(**values)
            )

    # -- dead letters -----------------------------------------------------------------

    async def failed(
        self, tenant_id: str | None, *, retried: bool | None, limit: int, channel: str | None = None
    ) -> tuple[list[FailedNotification], int]:
        conditions = []
        if tenant_id is not None:
            conditions.append(FailedNotification.tenant_id == tenant_id)
        if channel is not None:
            conditions.append(FailedNotification.channel == channel)
        if retried is not None:
            conditions.append(FailedNotification.retried.is_(retried))
        async with self.sessions() as session:
            rows = (
                await session.execute(
                    sa.select(FailedNotification)
                    .where(*conditions)
                    .order_by(FailedNotification.id.desc())
                    .limit(limit)
                )
            ).scalars()
            total = await session.scalar(
                sa.select(sa.func.count()).select_from(FailedNotification).where(*conditions)
            )
            return list(rows), int(total or 0)

    async def retry(self, tenant_id: str | None, failed_id: int, by: str | None) -> Notification:
        """Queue a dead notification again (same delivery id) and mark the letter retried."""
        conditions = [FailedNotification.id == failed_id]
        if tenant_id is not None:
            conditions.append(FailedNotification.tenant_id == tenant_id)
        async with self.sessions.begin() as session:
            letter = (
                await session.execute(sa.select(FailedNotification).where(*conditions))
            ).scalar_one_or_none()
            if letter is None:
                raise NotFound("No such failed notification.", code="notification_not_found")
            if letter.retried:
                raise Conflict(
                    "This notification was retried already; a new failure has its own entry.",
                    code="already_retried",
                )
            letter.retried, letter.retried_at, letter.retried_by = True, utc_now(), by
            note = await session.get(Notification, letter.notification_id)
            if note is None:
                raise NotFound("The notification is gone.", code="notification_not_found")
            note.status, note.attempts, note.locked_until = PENDING, 0, None
            note.next_attempt_at = utc_now()
        return note

    async def cleanup(self, older_than: timedelta) -> int:
        """Delete retried dead letters and delivered notifications older than `older_than`."""
        cutoff = utc_now() - older_than
        async with self.sessions.begin() as session:
            letters = await session.execute(
                sa.delete(FailedNotification).where(
                    FailedNotification.retried.is_(True), FailedNotification.retried_at < cutoff
                )
            )
            notes = await session.execute(
                sa.delete(Notification).where(
                    Notification.status == DELIVERED, Notification.delivered_at < cutoff
                )
            )
        return int(letters.rowcount or 0) + int(notes.rowcount or 0)  # type: ignore[attr-defined]
