"""Records a webhook said changed, read by id at the start of the next pull.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

``pull_hints``: one row per (crm, crm_id) a webhook named, with when it was noted; the
pull reads those records by id (HubSpot's search index lags writes, reads by id do not)
and removes the rows it read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pull_hints",
        sa.Column("crm", sa.String(16), nullable=False),
        sa.Column("crm_id", sa.String(64), nullable=False),
        sa.Column("noted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("crm", "crm_id", name="pk_pull_hints"),
    )


def downgrade() -> None:
    op.drop_table("pull_hints")
