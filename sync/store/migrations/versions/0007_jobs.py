"""The daemon's jobs: one row per job, its lock, waiting trigger and last outcome.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

``jobs`` (see ``sync.store.models.jobs``): ``holder`` / ``lease_until`` keep one run of a
job at a time across workers; ``requested_at`` folds triggers into one waiting run;
``tick_at`` is the scheduler's last slot, so two schedulers trigger a job once;
``totals`` sums the counts of every run's report (the metrics' counters).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSTANT = sa.DateTime(timezone=True)
DOCUMENT = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("lease_until", INSTANT, nullable=True),
        sa.Column("requested_at", INSTANT, nullable=True),
        sa.Column("queued_at", INSTANT, nullable=True),
        sa.Column("tick_at", INSTANT, nullable=True),
        sa.Column("started_at", INSTANT, nullable=True),
        sa.Column("finished_at", INSTANT, nullable=True),
        sa.Column("succeeded_at", INSTANT, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("report", DOCUMENT, nullable=True),
        sa.Column("totals", DOCUMENT, nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_jobs"),
    )


def downgrade() -> None:
    op.drop_table("jobs")
