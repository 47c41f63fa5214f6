"""pause: a run (or a batch) may be asked to pause at its next safe point

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-21 10:00:00

`runs.pause_requested` is set by `POST …/pause` and read by the worker at each
chunk's commit (as `cancel_requested` is at each checkpoint); a run that has
paused has the status `paused`, which needs no column of its own.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch (copy) migration would drop SQLite's `runs`, which
    # cascades to every run's events (0006 says the same).
    op.add_column(
        "runs",
        sa.Column("pause_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("runs", "pause_requested")
