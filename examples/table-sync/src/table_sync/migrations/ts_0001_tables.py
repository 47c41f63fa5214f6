"""table_sync: the copied records and the per-run checkpoints.

Revision ID: ts_0001
Revises: (none: this package's own branch)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ts_0001"
down_revision = None
branch_labels = ("table_sync",)  # `progress-sse db upgrade` migrates every branch to its head
depends_on = None


def upgrade() -> None:
    op.create_table(
        "table_sync_records",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("source_table", sa.String(64), nullable=False),
        sa.Column("source_key", sa.BigInteger, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.UniqueConstraint("tenant_id", "source_table", "source_key"),
    )
    op.create_table(
        "table_sync_checkpoints",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("source_table", sa.String(64), primary_key=True),
        sa.Column("last_key", sa.BigInteger, nullable=False),
        sa.Column("batches", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("table_sync_checkpoints")
    op.drop_table("table_sync_records")
