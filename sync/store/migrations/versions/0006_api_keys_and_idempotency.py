"""HTTP API keys get a public prefix; the answers to idempotent requests are kept.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03

- ``api_keys.prefix``: the public start of a key (``ps_3f9a2c1d``), unique, which names
  it in ``api-keys list``, ``api-keys revoke`` and the access log. No version before this
  one could create a key, so the table is rebuilt empty (and the revision refuses to run
  if someone put rows in it by hand).
- ``idempotent_requests``: per API key and ``Idempotency-Key``, the request's fingerprint
  and its first answer (status NULL while it runs), expiring after a day.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
INSTANT = sa.DateTime(timezone=True)


def _api_keys(with_prefix: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        *([sa.Column("prefix", sa.String(16), nullable=False)] if with_prefix else []),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("partner_id", sa.String(32), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("revoked_at", INSTANT, nullable=True),
    ]
    op.create_table(
        "api_keys",
        *columns,
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        *([sa.UniqueConstraint("prefix", name="uq_api_keys_prefix")] if with_prefix else []),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name="fk_api_keys_partner_id_partners"
        ),
        sa.CheckConstraint("role IN ('admin', 'partner')", name=op.f("ck_api_keys_role")),
        sa.CheckConstraint(
            "(role = 'partner' AND partner_id IS NOT NULL) "
            "OR (role = 'admin' AND partner_id IS NULL)",
            name=op.f("ck_api_keys_role_partner"),
        ),
    )
    op.create_index("ix_api_keys_partner_id", "api_keys", ["partner_id"])


def _rebuild_api_keys(with_prefix: bool) -> None:
    held = op.get_bind().scalar(sa.text("SELECT count(*) FROM api_keys"))
    if held:
        raise RuntimeError(
            f"api_keys holds {held} rows that no partnersync command created; "
            "remove them (or keep them elsewhere) and run the upgrade again"
        )
    op.drop_index("ix_api_keys_partner_id", table_name="api_keys")
    op.drop_table("api_keys")
    _api_keys(with_prefix)


def upgrade() -> None:
    _rebuild_api_keys(with_prefix=True)
    op.create_table(
        "idempotent_requests",
        sa.Column("id", ID, nullable=False),
        sa.Column("api_key_id", ID, nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("expires_at", INSTANT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_idempotent_requests"),
        sa.UniqueConstraint("api_key_id", "key", name="uq_idempotent_requests_api_key_id_key"),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name="fk_idempotent_requests_api_key_id_api_keys"
        ),
    )
    op.create_index("ix_idempotent_requests_expires_at", "idempotent_requests", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotent_requests_expires_at", table_name="idempotent_requests")
    op.drop_table("idempotent_requests")
    _rebuild_api_keys(with_prefix=False)
