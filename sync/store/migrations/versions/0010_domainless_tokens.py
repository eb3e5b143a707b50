"""The fuzzy index says which words belong to registrations without a customer domain.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

A submission with a domain is compared by name only with the live claims that have no
domain (a domain on both sides decides), and most claims have one: its fuzzy look-up read
every live claim sharing a word and dropped nine in ten of them. ``registration_tokens``
gets ``domainless`` (filled from the registrations) and a partial index of those words,
so that look-up reads the claims it can match only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: As the queries say it (SQLite compares a boolean with 1; its partial index must match).
SQLITE_WHERE = sa.text("domainless = 1")
POSTGRESQL_WHERE = sa.text("domainless")


def upgrade() -> None:
    with op.batch_alter_table("registration_tokens") as batch:
        batch.add_column(
            sa.Column("domainless", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute(
        sa.text(
            "UPDATE registration_tokens SET domainless = :yes WHERE registration_id IN "
            "(SELECT id FROM registrations WHERE COALESCE(customer_domain_key, '') = '')"
        ).bindparams(yes=True)
    )
    op.create_index(
        "ix_registration_tokens_domainless", "registration_tokens",
        ["token", "registration_id"], sqlite_where=SQLITE_WHERE,
        postgresql_where=POSTGRESQL_WHERE,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_registration_tokens_domainless", table_name="registration_tokens")
    with op.batch_alter_table("registration_tokens") as batch:
        batch.drop_column("domainless")
