"""batches: a run may belong to a batch, and a batch's children are kept in order

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-14 10:00:00

A batch is a row of `runs` of kind `batch` (so its events, stream, replay and
webhooks are a run's); `runs.parent_id` names the batch of a child run, and
`batch_children` holds each child's place, spec and state, including the
children that have no run yet.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # No foreign key on `parent_id`: adding one to SQLite's `runs` means rebuilding the
    # table, and dropping the old one there cascades to every run's events.
    op.add_column("runs", sa.Column("parent_id", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_runs_parent_id"), "runs", ["parent_id"])
    op.create_table(
        "batch_children",
        sa.Column("batch_id", sa.String(length=32), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("after", JSON, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("percentage", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("step", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["runs.id"],
            name=op.f("fk_batch_children_batch_id_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_batch_children_run_id_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("batch_id", "index", name=op.f("pk_batch_children")),
    )
    op.create_index(op.f("ix_batch_children_run_id"), "batch_children", ["run_id"])


def downgrade() -> None:
    op.drop_table("batch_children")
    op.drop_index(op.f("ix_runs_parent_id"), table_name="runs")
    op.drop_column("runs", "parent_id")
