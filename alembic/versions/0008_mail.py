"""mail: outcome emails through the webhook outbox (a `channel` per endpoint and row)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-22 10:00:00

A mail recipient is an endpoint of the `mail` channel: a `webhooks` row whose
`url` is `mailto:<address>`. Its outbox rows and dead letters are rows of
`notifications` and `failed_notifications` with `channel = 'mail'`, so mail has
the webhooks' retries, leases, dead letters and manual retry (docs/mail.md).

Three plain ADD COLUMNs with a server default: every existing row is a
webhook's. No table is recreated: a batch (copy-and-drop) migration of
`notifications` on SQLite, whose foreign keys are on, would delete every dead
letter through `failed_notifications`' ON DELETE CASCADE (0006 and 0007 say
the same of `runs`). That is also why mail did not get a nullable `webhook_id`
or tables of its own: the first needs a copy of `notifications`, the second a
second outbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TABLES = ("webhooks", "notifications", "failed_notifications")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("channel", sa.String(length=16), nullable=False, server_default="webhook"),
        )


def downgrade() -> None:
    # Mail rows would become webhooks to `mailto:` URLs: remove them first, children first.
    for table in reversed(TABLES):
        op.execute(sa.text(f"DELETE FROM {table} WHERE channel = 'mail'"))
    for table in TABLES:
        op.drop_column(table, "channel")
