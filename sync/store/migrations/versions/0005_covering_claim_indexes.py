"""The live-claim and open-direct-deal indexes carry the columns a batch filters on; the
(key, status) indexes of registrations go.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

A page of the mirror registering deals from the CRM reads, for thousands of customers at
once, the live claims that can decide them (approved ones, and the deal's own partner's)
and the oldest open direct deal on each. A customer many partners chase holds hundreds of
live claims (held conflicts), and a common name is shared by customers on many domains:

- ``ix_registrations_live_domain`` becomes (domain, partner, status) and
  ``ix_registrations_live_name`` (name, domain, partner, status): the claims that cannot
  decide a deal are passed over in the index, without reading their rows, and the claims
  without a domain on a name are found in it too;
- ``ix_opportunities_open_direct_name`` becomes (name, domain): the oldest open direct
  deal without a domain on a name is one probe, not a walk of every deal on that name.

The checks on submit read the same indexes by their first column, as before. The (key,
status) indexes of registrations go: every look-up by customer reads live claims, through
the indexes above, and SQLite's planner took the (domain, status) one for "no domain" and
walked every claim without one. A registration written updates two indexes fewer.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE = sa.text("status IN ('pending', 'approved', 'conflict')")
OPEN_DIRECT = {
    "sqlite": "partner_id IS NULL AND partner_ref IS NULL AND is_closed IS 0 AND deleted IS 0",
    "postgresql": (
        "partner_id IS NULL AND partner_ref IS NULL AND is_closed IS false AND deleted IS false"
    ),
}
# (table, index, columns after, columns before)
INDEXES = (
    ("registrations", "ix_registrations_live_domain",
     ["customer_domain_key", "partner_id", "status"], ["customer_domain_key"]),
    ("registrations", "ix_registrations_live_name",
     ["customer_name_key", "customer_domain_key", "partner_id", "status"], ["customer_name_key"]),
    ("opportunities", "ix_opportunities_open_direct_name",
     ["customer_name_key", "customer_domain_key"], ["customer_name_key"]),
)  # fmt: skip


def _recreate(after: bool) -> None:
    dialect = op.get_bind().dialect.name
    for table, name, columns, before in INDEXES:
        where = LIVE if table == "registrations" else sa.text(OPEN_DIRECT[dialect])
        op.drop_index(name, table_name=table)
        op.create_index(
            name, table, columns if after else before, sqlite_where=where, postgresql_where=where
        )


KEY_STATUS = ("customer_name_key", "customer_domain_key")


def upgrade() -> None:
    _recreate(after=True)
    for column in KEY_STATUS:
        op.drop_index(f"ix_registrations_{column}_status", table_name="registrations")


def downgrade() -> None:
    for column in KEY_STATUS:
        op.create_index(f"ix_registrations_{column}_status", "registrations", [column, "status"])
    _recreate(after=False)
