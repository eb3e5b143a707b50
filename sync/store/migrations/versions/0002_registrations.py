"""Deal registration: active partners, blocked accounts by name, one holder per customer,
the name tokens fuzzy matching starts from, and the customer keys of mirrored deals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

- ``partners.active`` / ``deactivated_at``: a deactivated partner keeps its rows and
  history but registers nothing new;
- ``blocked_accounts.name_key`` (blocks match on the domain, else the normalised name) and
  ``reason``;
- ``registrations.customer_key`` (the domain key, else ``name:`` + the name key) with a
  partial unique index: at most one *approved* registration per customer key, which the
  database holds even against two writers racing; ``note`` (a decision's free text);
- ``opportunities.partner_ref`` indexed: a partner added later finds the deals naming it;
- ``registration_tokens``: the words of each registration's customer name key, where a
  fuzzy comparison finds its few hundred candidates instead of scanning the table;
- mirrored deals mirrored before this revision get their customer keys here (they were
  empty), computed by ``rules.matching`` as the pull computes them now: no full re-read.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)
APPROVED = sa.text("status = 'approved'")
BATCH = 5_000


def upgrade() -> None:
    with op.batch_alter_table("partners") as table:
        table.add_column(
            sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        table.add_column(sa.Column("deactivated_at", INSTANT, nullable=True))
    with op.batch_alter_table("blocked_accounts") as table:
        table.add_column(sa.Column("name_key", sa.String(255), nullable=True))
        table.add_column(sa.Column("reason", sa.Text(), nullable=True))
    op.create_index(op.f("ix_blocked_accounts_name_key"), "blocked_accounts", ["name_key"])
    # A partner added later is linked to the deals that already name it in one statement.
    op.create_index(op.f("ix_opportunities_partner_ref"), "opportunities", ["partner_ref"])
    with op.batch_alter_table("registrations") as table:
        table.add_column(sa.Column("customer_key", sa.String(260), nullable=True))
        table.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.execute(
        "UPDATE registrations SET customer_key = COALESCE(customer_domain_key, "
        "'name:' || customer_name_key)"
    )
    with op.batch_alter_table("registrations") as table:
        table.alter_column("customer_key", existing_type=sa.String(260), nullable=False)
    op.create_index(
        "uq_registrations_customer_key_approved",
        "registrations",
        ["customer_key"],
        unique=True,
        sqlite_where=APPROVED,
        postgresql_where=APPROVED,
    )
    op.create_table(
        "registration_tokens",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("registration_id", ID, nullable=False),
        sa.PrimaryKeyConstraint("token", "registration_id", name=op.f("pk_registration_tokens")),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["registrations.id"],
            name=op.f("fk_registration_tokens_registration_id_registrations"),
        ),
    )
    op.create_index(
        op.f("ix_registration_tokens_registration_id"), "registration_tokens", ["registration_id"]
    )
    _fill_opportunity_keys()


def _fill_opportunity_keys() -> None:
    """Customer keys for the deals mirrored before this revision, in batches."""
    from rules.matching import domain_key, name_key

    connection = op.get_bind()
    opportunities = sa.table(
        "opportunities",
        sa.column("id", ID),
        sa.column("account_name", sa.String),
        sa.column("account_domain", sa.String),
        sa.column("customer_name_key", sa.String),
        sa.column("customer_domain_key", sa.String),
    )
    last = 0
    while True:
        rows = connection.execute(
            sa.select(opportunities.c.id, opportunities.c.account_name, opportunities.c.account_domain)
            .where(opportunities.c.id > last)
            .order_by(opportunities.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        keyed = [
            {"key": row.id, "name": name_key(row.account_name), "domain": domain_key(row.account_domain)}
            for row in rows
        ]
        keyed = [k for k in keyed if k["name"] is not None or k["domain"] is not None]
        if keyed:
            connection.execute(
                opportunities.update()
                .where(opportunities.c.id == sa.bindparam("key"))
                .values(customer_name_key=sa.bindparam("name"), customer_domain_key=sa.bindparam("domain")),
                keyed,
            )


def downgrade() -> None:
    op.drop_table("registration_tokens")
    op.drop_index("uq_registrations_customer_key_approved", table_name="registrations")
    with op.batch_alter_table("registrations") as table:
        table.drop_column("note")
        table.drop_column("customer_key")
    op.drop_index(op.f("ix_opportunities_partner_ref"), table_name="opportunities")
    op.drop_index(op.f("ix_blocked_accounts_name_key"), table_name="blocked_accounts")
    with op.batch_alter_table("blocked_accounts") as table:
        table.drop_column("reason")
        table.drop_column("name_key")
    with op.batch_alter_table("partners") as table:
        table.drop_column("deactivated_at")
        table.drop_column("active")
