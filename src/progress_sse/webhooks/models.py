"""The webhook tables; they live in the run store, next to the runs they report on."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from progress_sse.runs.events import iso, iso_or_none
from progress_sse.runs.models import Base, JSONType, UTCDateTime

# How an outbox row leaves: POSTed to a URL, or mailed to an address (`mail/`). One
# outbox, one dead-letter table and one retry for both; migration 0008 added the column.
WEBHOOK, MAIL = "webhook", "mail"
CHANNELS = (WEBHOOK, MAIL)


def channel_column() -> Mapped[str]:
    return mapped_column(sa.String(16), default=WEBHOOK, server_default=WEBHOOK)


class Webhook(Base):
    """An endpoint of a tenant and the terminal events it wants: a URL (`channel` webhook),
    or a mail recipient (`channel` mail, `url` `mailto:<address>`, an unused `secret`)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2048))
    # Needed in clear to sign each body; shown to the admin once, at creation.
    secret: Mapped[str] = mapped_column(sa.String(128))
    events: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str] = mapped_column(sa.String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    channel: Mapped[str] = channel_column()


class Notification(Base):
    """The outbox: one row per (terminal event, endpoint), written with the terminal state.

    `id` is the delivery id receivers de-duplicate on; `body` is the exact
    JSON that is signed and sent, so every attempt sends the same bytes (for mail: the
    whole RFC 5322 message, and `url` is `mailto:<address>`).
    """

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    webhook_id: Mapped[int] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(sa.String(32), index=True)
    event: Mapped[str] = mapped_column(sa.String(16))
    url: Mapped[str] = mapped_column(sa.String(2048))
    body: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16))  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    channel: Mapped[str] = channel_column()


class FailedNotification(Base):
    """The dead-letter table: a notification whose every attempt failed."""

    __tablename__ = "failed_notifications"
    __table_args__ = (sa.Index("ix_failed_notifications_tenant", "tenant_id", "retried", "id"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    notification_id: Mapped[str] = mapped_column(
        sa.ForeignKey("notifications.id", ondelete="CASCADE")
    )
    tenant_id: Mapped[str] = mapped_column(sa.String(64))
    webhook_id: Mapped[int] = mapped_column(sa.Integer)
    run_id: Mapped[str] = mapped_column(sa.String(32))
    event: Mapped[str] = mapped_column(sa.String(16))
    url: Mapped[str] = mapped_column(sa.String(2048))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    last_error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retried: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    retried_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retried_by: Mapped[str | None] = mapped_column(sa.String(200), nullable=True)
    channel: Mapped[str] = channel_column()


def failed_json(row: FailedNotification) -> dict[str, Any]:
    return {
        "id": row.id,
        "delivery_id": row.notification_id,
        "channel": row.channel,
        "webhook_id": row.webhook_id,  # a mail recipient's id when `channel` is mail
        "run_id": row.run_id,
        "event": row.event,
        "url": row.url,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "last_status_code": row.last_status_code,
        "failed_at": iso(row.failed_at),
        "retried": row.retried,
        "retried_at": iso_or_none(row.retried_at),
    }
