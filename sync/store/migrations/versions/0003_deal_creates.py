"""Deals created on approval: the creates to send, and the key that links a created deal.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

- ``deal_creates``: one row per approved registration that gets a deal created in the
  CRM (``[program] create_deals_on_approval``): the CRM, the key written to the mapping's
  ``[create] external_id`` field (the create is an upsert on it, so a retry never makes a
  second deal), the state of the send and the new deal's id;
- ``opportunities.registration_key``: that key as the mirror reads it back, indexed, so a
  created deal is linked to its registration by it;
- partial indexes on the customer keys of open deals with no partner ("direct deals"):
  the channel-conflict check of a registration reads a few of them per customer instead
  of every deal the customer ever had.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)
ENUM = sa.String(32)


def _one_of(column: str, values: Sequence[str]) -> sa.CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f'"{column}" IN ({listed})', name=op.f(f"ck_deal_creates_{column}"))


OPEN_DIRECT_SQLITE = sa.text(
    "partner_id IS NULL AND partner_ref IS NULL AND is_closed IS 0 AND deleted IS 0"
)
OPEN_DIRECT_POSTGRESQL = sa.text(
    "partner_id IS NULL AND partner_ref IS NULL AND is_closed IS false AND deleted IS false"
)


def upgrade() -> None:
    with op.batch_alter_table("opportunities") as table:
        table.add_column(sa.Column("registration_key", sa.String(80), nullable=True))
    op.create_index(
        op.f("ix_opportunities_registration_key"), "opportunities", ["registration_key"]
    )
    for name, column in (("domain", "customer_domain_key"), ("name", "customer_name_key")):
        op.create_index(
            op.f(f"ix_opportunities_open_direct_{name}"),
            "opportunities",
            [column],
            sqlite_where=OPEN_DIRECT_SQLITE,
            postgresql_where=OPEN_DIRECT_POSTGRESQL,
        )
    op.create_table(
        "deal_creates",
        sa.Column("id", ID, nullable=False),
        sa.Column("registration_id", ID, nullable=False),
        sa.Column("crm", ENUM, nullable=False),
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("crm_id", sa.String(64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", INSTANT, nullable=True),
        sa.Column("last_error_code", sa.String(100), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_creates")),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_deal_creates_registration_id_registrations"),
        ),
        sa.UniqueConstraint("registration_id", name=op.f("uq_deal_creates_registration_id")),
        sa.UniqueConstraint("key", name=op.f("uq_deal_creates_key")),
        _one_of("crm", ("salesforce", "hubspot")),
        _one_of("status", ("pending", "retry", "created", "rejected", "cancelled")),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_deal_creates_attempts")),
    )
    op.create_index(
        op.f("ix_deal_creates_crm_status_next_attempt_at"),
        "deal_creates",
        ["crm", "status", "next_attempt_at"],
    )


def downgrade() -> None:
    op.drop_table("deal_creates")
    for name in ("domain", "name"):
        op.drop_index(op.f(f"ix_opportunities_open_direct_{name}"), table_name="opportunities")
    op.drop_index(op.f("ix_opportunities_registration_key"), table_name="opportunities")
    with op.batch_alter_table("opportunities") as table:
        table.drop_column("registration_key")
