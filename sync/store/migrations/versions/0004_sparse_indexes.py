"""Indexes of sparse columns hold their values only; live claims get indexes of their own;
the fuzzy index holds live claims only.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

- ``registrations.opportunity_id``, ``registrations.conflict_with`` and
  ``opportunities.registration_key`` are empty on most rows (a registration submitted
  before its deal exists, a claim in no conflict, a deal partnersync did not create). Their
  indexes become partial (``WHERE column IS NOT NULL``): smaller, and the planner's
  statistics describe the values looked up rather than the one empty value (SQLite's
  ANALYZE counted a million rows per value and chose to scan the table instead);
- partial indexes of live registrations (pending, approved, conflict) by customer domain
  and by name key: every check reads the live claims on a customer, a small part of a
  mature store, and the planners chose a scan of all live claims over the (key, status)
  indexes when a batch looked up thousands of customers at once;
- ``registration_tokens`` keeps the name words of live registrations only (pending,
  approved, conflict): a fuzzy look-up reads no ended claim. The words of registrations
  that ended before go here (a downgrade does not bring them back: they were never read).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SPARSE = (
    ("registrations", "opportunity_id"),
    ("registrations", "conflict_with"),
    ("opportunities", "registration_key"),
)


LIVE = sa.text("status IN ('pending', 'approved', 'conflict')")
LIVE_KEYS = (("domain", "customer_domain_key"), ("name", "customer_name_key"))


def upgrade() -> None:
    for name, column in LIVE_KEYS:
        op.create_index(
            op.f(f"ix_registrations_live_{name}"), "registrations", [column],
            sqlite_where=LIVE, postgresql_where=LIVE,
        )  # fmt: skip
    for table, column in SPARSE:
        name = op.f(f"ix_{table}_{column}")
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column], sqlite_where=where, postgresql_where=where)
    op.execute(
        "DELETE FROM registration_tokens WHERE registration_id IN (SELECT id FROM "
        "registrations WHERE status NOT IN ('pending', 'approved', 'conflict'))"
    )


def downgrade() -> None:
    for name, _ in LIVE_KEYS:
        op.drop_index(op.f(f"ix_registrations_live_{name}"), table_name="registrations")
    for table, column in SPARSE:
        name = op.f(f"ix_{table}_{column}")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, [column])
