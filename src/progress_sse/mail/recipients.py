"""Mail recipients, and the run store's finish hook that queues their mail.

A recipient is an endpoint of the `mail` channel: a `webhooks` row whose `url`
is `mailto:<address>`. Its mail is an outbox row like a webhook's, written in
the transaction that records the outcome, so the webhooks' retries, leases,
dead letters and retry carry it (docs/mail.md says why one outbox).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from progress_sse.errors import Conflict, NotFound, ValidationFailed
from progress_sse.jobs.kinds import JobRegistry
from progress_sse.mail.message import ChildOutcome, Outcome, compose
from progress_sse.mail.text import check_address, one_line, period_of
from progress_sse.runs.events import utc_now
from progress_sse.runs.ids import new_run_id
from progress_sse.runs.models import BATCH_KIND, Run, Tenant
from progress_sse.runs.statuses import RunStatus
from progress_sse.webhooks.models import MAIL, Notification, Webhook
from progress_sse.webhooks.outbox import PENDING, Outbox
from progress_sse.webhooks.payload import EVENTS, webhook_event

MAILTO = "mailto:"
MAX_RECIPIENTS_PER_TENANT = 50
log = logging.getLogger(__name__)


def address_of(row: Webhook | Notification) -> str:
    return row.url.removeprefix(MAILTO)


def check_events(events: Any) -> list[str]:
    """A non-empty list of known outcome events, each once; else 422 naming `events`."""
    if (
        not isinstance(events, list)
        or not events
        or not all(isinstance(e, str) for e in events)
        or set(events) - set(EVENTS)
    ):
        raise ValidationFailed(
            f"'events' must be a non-empty list of: {', '.join(EVENTS)}.",
            fields=[{"field": "events", "message": f"one or more of {', '.join(EVENTS)}"}],
        )
    return list(dict.fromkeys(events))


def _missing() -> NotFound:
    return NotFound("No such mail recipient.", code="recipient_not_found")


class Recipients:
    """Every recipient query, each a short transaction (tenant None: the CLI, any tenant)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def add(
        self, tenant_id: str, address: Any, events: Any, *, by: str | None = None
    ) -> Webhook:
        address, events = check_address(address), check_events(events)
        async with self.sessions.begin() as session:
            if await session.get(Tenant, tenant_id) is None:
                raise NotFound(f"No tenant {tenant_id!r}.", code="tenant_not_found")
            rows = (
                await session.execute(
                    sa.select(Webhook.id, Webhook.url).where(
                        Webhook.tenant_id == tenant_id, Webhook.channel == MAIL
                    )
                )
            ).all()
            same = [i for i, url in rows if url.lower() == (MAILTO + address).lower()]
            if same:
                raise Conflict(
                    f"{address} is a recipient already (id {same[0]}); change its events.",
                    code="recipient_exists",
                    recipient_id=same[0],
                )
            if len(rows) >= MAX_RECIPIENTS_PER_TENANT:
                raise Conflict(
                    f"A tenant may have at most {MAX_RECIPIENTS_PER_TENANT} mail recipients.",
                    code="too_many_recipients",
                )
            row = Webhook(
                tenant_id=tenant_id, url=MAILTO + address, events=events, channel=MAIL,
                secret=secrets.token_urlsafe(16),  # the column is required; mail signs nothing
                description="", created_at=utc_now(), created_by=by,
            )  # fmt: skip
            session.add(row)
        return row

    async def listed(self, tenant_id: str | None) -> list[Webhook]:
        return await Outbox(self.sessions).endpoints(tenant_id, MAIL)

    async def set_events(self, tenant_id: str | None, recipient_id: int, events: Any) -> Webhook:
        """Which outcomes a recipient gets from now on (mail already queued still goes)."""
        events = check_events(events)
        conditions = [Webhook.id == recipient_id, Webhook.channel == MAIL]
        if tenant_id is not None:
            conditions.append(Webhook.tenant_id == tenant_id)
        async with self.sessions.begin() as session:
            row = (await session.execute(sa.select(Webhook).where(*conditions))).scalar()
            if row is None:
                raise _missing()
            row.events = events
        return row

    async def remove(self, tenant_id: str | None, recipient_id: int) -> None:
        """Remove a recipient with its queued mail and its dead letters."""
        await Outbox(self.sessions).remove_endpoint(tenant_id, recipient_id, MAIL, _missing())


class MailHook:
    """The run store's finish hook: one outbox row per recipient subscribed to this ending,
    the whole message composed now (so a retry sends the same bytes)."""

    def __init__(self, registry: JobRegistry, *, sender: str, link_base: str) -> None:
        self.registry = registry
        self.sender = sender
        self.link_base = link_base.rstrip("/")

    async def __call__(self, session: AsyncSession, run: Run) -> int:
        finished = run.finished_at
        assert finished is not None, "a finished run"
        event = webhook_event(RunStatus(run.status), run.error_code)
        recipients = (
            await session.execute(
                sa.select(Webhook.id, Webhook.url, Webhook.events).where(
                    Webhook.tenant_id == run.tenant_id, Webhook.channel == MAIL
                )
            )
        ).all()
        wanted = [(i, url) for i, url, events in recipients if event in events]
        if not wanted:
            return 0
        rows = []
        for recipient_id, url in wanted:
            delivery_id = new_run_id()
            try:
                message = compose(
                    self.outcome(run, event), sender=self.sender,
                    recipient=url.removeprefix(MAILTO), delivery_id=delivery_id,
                )  # fmt: skip
            except Exception:  # this transaction ends the run: a mail must never stop that
                log.exception("mail of run %s to recipient %d could not be composed", run.id,
                              recipient_id)  # fmt: skip
                continue
            rows.append({
                "id": delivery_id, "tenant_id": run.tenant_id, "webhook_id": recipient_id,
                "run_id": run.id, "event": event, "url": url, "body": message,
                "status": PENDING, "attempts": 0, "next_attempt_at": finished,
                "created_at": finished, "channel": MAIL,
            })  # fmt: skip
        if rows:
            await session.execute(sa.insert(Notification), rows)
        return len(rows)

    def outcome(self, run: Run, event: str) -> Outcome:
        """What the mail tells of `run`, from its row (a batch's row holds its children's)."""
        assert run.finished_at is not None
        batch = run.kind == BATCH_KIND
        params = run.params if isinstance(run.params, dict) else {}
        path = f"/api/batches/{run.id}" if batch else f"/api/runs/{run.id}"
        summary = None
        if not batch and run.status == RunStatus.COMPLETED:
            summary = self.registry.summary(run.kind, run.result)
        return Outcome(
            run_id=run.id, tenant_id=run.tenant_id, event=event,
            title=str(params.get("name") or "batch") if batch else self._title(run.kind),
            kind=run.kind, period=period_of(params), created_by=run.created_by,
            message=run.message, summary=summary,
            error=run.error, error_code=run.error_code, finished_at=run.finished_at,
            link=self.link_base + path, batch=batch,
            report=None if batch else f"{self.link_base}{path}/report",
            children=children_of(run.result) if batch else (),
        )  # fmt: skip

    def _title(self, kind: str) -> str:
        try:
            return self.registry.get(kind).title or kind
        except ValidationFailed:  # a kind no longer installed: its name
            return kind


def children_of(result: dict[str, Any] | None) -> tuple[ChildOutcome, ...]:
    """A batch's children from its row's `result` (`{"children": [...]}`), as stored."""
    children = (result or {}).get("children")
    if not isinstance(children, Sequence):
        return ()
    return tuple(
        ChildOutcome(
            name=one_line(c.get("name", ""), 200), kind=one_line(c.get("kind", ""), 64),
            status=one_line(c.get("status", ""), 16),
            reason=one_line(c["reason"], 500) if c.get("reason") else None,
        )
        for c in children
        if isinstance(c, dict)
    )  # fmt: skip
