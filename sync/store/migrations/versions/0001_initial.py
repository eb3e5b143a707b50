"""The initial partner store: partners, the CRM mirror, registrations, money, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written to be read: types, constraint names and enum values are spelled out here rather
than imported from the models, so this revision keeps creating exactly this schema
whatever the models become. ``tests/sync/store`` checks that it matches the models.

Types, per principle 7:

- surrogate keys: BIGINT (INTEGER on SQLite, where only that is the rowid);
- money NUMERIC(18, 4) and percents NUMERIC(9, 4); on SQLite, which has no exact decimal
  type, the same values scaled to a 64-bit integer (``sync.store.types.ExactDecimal``);
- instants TIMESTAMP WITH TIME ZONE (SQLite: UTC wall time); dates DATE;
- enumerations VARCHAR(32) with a CHECK listing their values;
- JSON documents JSONB on PostgreSQL, JSON text on SQLite.

``ledger_entries`` and ``audit_log`` are append-only: triggers refuse UPDATE and DELETE
(and TRUNCATE on PostgreSQL). A SQLite batch migration that rebuilds one of them must
create its triggers again.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MONEY = sa.Numeric(18, 4).with_variant(sa.BigInteger(), "sqlite")
PERCENT = sa.Numeric(9, 4).with_variant(sa.BigInteger(), "sqlite")
CURRENCY = sa.String(3)
INSTANT = sa.DateTime(timezone=True)
ENUM = sa.String(32)
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
PARTNER_ID = sa.String(32)
CRM_ID = sa.String(64)

CRMS = ("salesforce", "hubspot")
DIRECTIONS = (
    "partner_sourced_partner_sold",
    "direct_sourced_partner_sold",
    "partner_sourced_direct_sold",
)
FLOWS = ("payable", "receivable")
APPEND_ONLY_TABLES = ("ledger_entries", "audit_log")


def one_of(table: str, column: str, values: Sequence[str]) -> sa.CheckConstraint:
    """The CHECK of an enumeration column: ``ck_<table>_<column>``."""
    listed = ", ".join(f"'{value}'" for value in values)
    return sa.CheckConstraint(f'"{column}" IN ({listed})', name=op.f(f"ck_{table}_{column}"))


def check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    referred = target.split(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}")
    )


def index(table: str, *columns: str) -> None:
    op.create_index(op.f(f"ix_{table}_{'_'.join(columns)}"), table, list(columns))


def upgrade() -> None:
    _partners()
    _crm_mirror()
    _registrations()
    _money()
    _audit()
    _refuse_changes(APPEND_ONLY_TABLES)


def _partners() -> None:
    op.create_table(
        "partners",
        sa.Column("id", PARTNER_ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("salesforce_account_id", sa.String(64), nullable=True),
        sa.Column("hubspot_company_id", sa.String(64), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        pk("partners", "id"),
        unique("partners", "salesforce_account_id"),
        unique("partners", "hubspot_company_id"),
    )
    op.create_table(
        "blocked_accounts",
        sa.Column("id", ID, nullable=False),
        sa.Column("domain", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        pk("blocked_accounts", "id"),
        unique("blocked_accounts", "domain"),
        one_of("blocked_accounts", "kind", ("house", "do_not_contact")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(128), nullable=False),
        sa.Column("role", ENUM, nullable=False),
        sa.Column("partner_id", PARTNER_ID, nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("revoked_at", INSTANT, nullable=True),
        pk("api_keys", "id"),
        unique("api_keys", "key_hash"),
        fk("api_keys", "partner_id", "partners.id"),
        one_of("api_keys", "role", ("admin", "partner")),
        check(
            "api_keys",
            "role_partner",
            "(role = 'partner' AND partner_id IS NOT NULL) "
            "OR (role = 'admin' AND partner_id IS NULL)",
        ),
    )
    index("api_keys", "partner_id")


def _crm_mirror() -> None:
    op.create_table(
        "opportunities",
        sa.Column("id", ID, nullable=False),
        sa.Column("crm", ENUM, nullable=False),
        sa.Column("crm_id", CRM_ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("account_name", sa.String(255), nullable=True),
        sa.Column("account_domain", sa.String(255), nullable=True),
        sa.Column("customer_name_key", sa.String(255), nullable=True),
        sa.Column("customer_domain_key", sa.String(255), nullable=True),
        sa.Column("amount", MONEY, nullable=True),
        sa.Column("currency", CURRENCY, nullable=True),
        sa.Column("stage", sa.String(100), nullable=True),
        sa.Column("is_closed", sa.Boolean(), nullable=False),
        sa.Column("is_won", sa.Boolean(), nullable=False),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("practice", sa.String(100), nullable=True),
        sa.Column("direction", ENUM, nullable=True),
        sa.Column("partner_ref", sa.String(255), nullable=True),
        sa.Column("partner_id", PARTNER_ID, nullable=True),
        sa.Column("paid_amount", MONEY, nullable=True),
        sa.Column("paid_date", sa.Date(), nullable=True),
        sa.Column("cost", MONEY, nullable=True),
        sa.Column("crm_modified_at", INSTANT, nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", INSTANT, nullable=True),
        sa.Column("crm_values", JSON, nullable=False),
        sa.Column("first_seen_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        pk("opportunities", "id"),
        unique("opportunities", "crm", "crm_id"),
        fk("opportunities", "partner_id", "partners.id"),
        one_of("opportunities", "crm", CRMS),
        one_of("opportunities", "direction", DIRECTIONS),
        check(
            "opportunities",
            "money_has_currency",
            "currency IS NOT NULL OR (amount IS NULL AND paid_amount IS NULL AND cost IS NULL)",
        ),
        check("opportunities", "deleted_at_iff_deleted", "deleted = (deleted_at IS NOT NULL)"),
    )
    index("opportunities", "crm", "crm_modified_at")
    index("opportunities", "partner_id")
    index("opportunities", "customer_domain_key")
    index("opportunities", "customer_name_key")

    op.create_table(
        "sync_state",
        sa.Column("crm", ENUM, nullable=False),
        sa.Column("object", sa.String(64), nullable=False),
        sa.Column("watermark", INSTANT, nullable=True),
        sa.Column("watermark_id", CRM_ID, nullable=True),
        sa.Column("cursor", sa.Text(), nullable=True),
        sa.Column("deletes_checked_at", INSTANT, nullable=True),
        sa.Column("last_full_at", INSTANT, nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        pk("sync_state", "crm", "object"),
        one_of("sync_state", "crm", CRMS),
    )

    op.create_table(
        "quarantine",
        sa.Column("id", ID, nullable=False),
        sa.Column("crm", ENUM, nullable=False),
        sa.Column("crm_id", CRM_ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("first_seen_at", INSTANT, nullable=False),
        sa.Column("last_seen_at", INSTANT, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        pk("quarantine", "id"),
        unique("quarantine", "crm", "crm_id"),
        one_of("quarantine", "crm", CRMS),
        check("quarantine", "attempts", "attempts >= 1"),
    )

    open_rows = sa.text("status IN ('pending', 'retry')")
    op.create_table(
        "outbox",
        sa.Column("id", ID, nullable=False),
        sa.Column("crm", ENUM, nullable=False),
        sa.Column("crm_id", CRM_ID, nullable=False),
        sa.Column("opportunity_id", ID, nullable=False),
        sa.Column("desired", JSON, nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", INSTANT, nullable=True),
        sa.Column("last_error_code", sa.String(100), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        pk("outbox", "id"),
        fk("outbox", "opportunity_id", "opportunities.id"),
        one_of("outbox", "crm", CRMS),
        one_of("outbox", "status", ("pending", "retry", "done", "rejected")),
        check("outbox", "attempts", "attempts >= 0"),
    )
    # One open (pending or retry) row per CRM record: changes coalesce into it.
    op.create_index(
        op.f("uq_outbox_open_record"),
        "outbox",
        ["crm", "crm_id"],
        unique=True,
        sqlite_where=open_rows,
        postgresql_where=open_rows,
    )
    index("outbox", "crm", "status", "next_attempt_at")
    index("outbox", "opportunity_id")


def _registrations() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", PARTNER_ID, nullable=False),
        sa.Column("customer_name", sa.String(255), nullable=False),
        sa.Column("customer_domain", sa.String(255), nullable=True),
        sa.Column("customer_name_key", sa.String(255), nullable=False),
        sa.Column("customer_domain_key", sa.String(255), nullable=True),
        sa.Column("amount", MONEY, nullable=True),
        sa.Column("currency", CURRENCY, nullable=True),
        sa.Column("practice", sa.String(100), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("protected_until", sa.Date(), nullable=True),
        sa.Column("extensions_used", sa.Integer(), nullable=False),
        sa.Column("conflict_with", ID, nullable=True),
        sa.Column("opportunity_id", ID, nullable=True),
        sa.Column("source", ENUM, nullable=False),
        sa.Column("submitted_at", INSTANT, nullable=False),
        sa.Column("decided_at", INSTANT, nullable=True),
        sa.Column("decided_by", sa.String(100), nullable=True),
        sa.Column("updated_at", INSTANT, nullable=False),
        pk("registrations", "id"),
        fk("registrations", "partner_id", "partners.id"),
        fk("registrations", "conflict_with", "registrations.id"),
        fk("registrations", "opportunity_id", "opportunities.id"),
        one_of(
            "registrations",
            "status",
            ("pending", "approved", "rejected", "conflict", "expired", "won", "lost"),
        ),
        one_of("registrations", "source", ("api", "cli", "crm")),
        check("registrations", "amount_has_currency", "currency IS NOT NULL OR amount IS NULL"),
        check(
            "registrations",
            "approved_protected",
            "status <> 'approved' OR protected_until IS NOT NULL",
        ),
        check("registrations", "extensions_used", "extensions_used >= 0"),
    )
    index("registrations", "customer_name_key", "status")
    index("registrations", "customer_domain_key", "status")
    index("registrations", "partner_id", "status")
    index("registrations", "status", "protected_until")
    index("registrations", "opportunity_id")
    index("registrations", "conflict_with")


def _money() -> None:
    period = "effective_to IS NULL OR effective_to >= effective_from"
    op.create_table(
        "agreements",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", PARTNER_ID, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("frozen", sa.Boolean(), nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        pk("agreements", "id"),
        unique("agreements", "partner_id", "version"),
        fk("agreements", "partner_id", "partners.id"),
        check("agreements", "version", "version >= 1"),
        check("agreements", "period", period),
    )
    op.create_table(
        "agreement_rules",
        sa.Column("id", ID, nullable=False),
        sa.Column("agreement_id", ID, nullable=False),
        sa.Column("practice", sa.String(100), nullable=False),
        sa.Column("direction", ENUM, nullable=False),
        sa.Column("basis", ENUM, nullable=False),
        sa.Column("percent", PERCENT, nullable=False),
        sa.Column("floor", MONEY, nullable=True),
        sa.Column("ceiling", MONEY, nullable=True),
        sa.Column("currency", CURRENCY, nullable=True),
        sa.Column("flow", ENUM, nullable=False),
        sa.Column("trigger", ENUM, nullable=False),
        sa.Column("payout_delay_days", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        pk("agreement_rules", "id"),
        fk("agreement_rules", "agreement_id", "agreements.id"),
        one_of("agreement_rules", "direction", DIRECTIONS),
        one_of("agreement_rules", "basis", ("amount", "margin", "paid")),
        one_of("agreement_rules", "flow", FLOWS),
        one_of("agreement_rules", "trigger", ("closed_won", "paid")),
        check("agreement_rules", "percent", "percent >= 0"),
        check("agreement_rules", "floor", "floor IS NULL OR floor >= 0"),
        check(
            "agreement_rules",
            "ceiling_above_floor",
            "ceiling IS NULL OR floor IS NULL OR ceiling >= floor",
        ),
        check("agreement_rules", "payout_delay_days", "payout_delay_days >= 0"),
        check("agreement_rules", "period", period),
    )
    index("agreement_rules", "agreement_id", "practice", "direction")

    op.create_table(
        "ledger_entries",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", PARTNER_ID, nullable=False),
        sa.Column("opportunity_id", ID, nullable=True),
        sa.Column("agreement_rule_id", ID, nullable=True),
        sa.Column("kind", ENUM, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", CURRENCY, nullable=False),
        sa.Column("basis_amount", MONEY, nullable=True),
        sa.Column("flow", ENUM, nullable=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("reverses_entry_id", ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("occurred_at", INSTANT, nullable=False),
        sa.Column("created_at", INSTANT, nullable=False),
        pk("ledger_entries", "id"),
        unique("ledger_entries", "idempotency_key"),
        unique("ledger_entries", "reverses_entry_id"),
        fk("ledger_entries", "partner_id", "partners.id"),
        fk("ledger_entries", "opportunity_id", "opportunities.id"),
        fk("ledger_entries", "agreement_rule_id", "agreement_rules.id"),
        fk("ledger_entries", "reverses_entry_id", "ledger_entries.id"),
        one_of("ledger_entries", "kind", ("accrual", "adjustment", "reversal")),
        one_of("ledger_entries", "flow", FLOWS),
        check(
            "ledger_entries",
            "reversal_names_entry",
            "kind <> 'reversal' OR (reverses_entry_id IS NOT NULL AND reason IS NOT NULL)",
        ),
        check(
            "ledger_entries",
            "only_reversal_reverses",
            "kind = 'reversal' OR reverses_entry_id IS NULL",
        ),
    )
    index("ledger_entries", "partner_id", "occurred_at")
    index("ledger_entries", "opportunity_id")
    index("ledger_entries", "agreement_rule_id")

    op.create_table(
        "payouts",
        sa.Column("id", ID, nullable=False),
        sa.Column("partner_id", PARTNER_ID, nullable=False),
        sa.Column("opportunity_id", ID, nullable=True),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", CURRENCY, nullable=False),
        sa.Column("flow", ENUM, nullable=False),
        sa.Column("status", ENUM, nullable=False),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("scheduled_for", sa.Date(), nullable=True),
        sa.Column("paid_at", sa.Date(), nullable=True),
        sa.Column("created_at", INSTANT, nullable=False),
        sa.Column("updated_at", INSTANT, nullable=False),
        pk("payouts", "id"),
        fk("payouts", "partner_id", "partners.id"),
        fk("payouts", "opportunity_id", "opportunities.id"),
        one_of("payouts", "flow", FLOWS),
        one_of("payouts", "status", ("accrued", "approved", "scheduled", "paid", "reversed")),
        check("payouts", "scheduled", "status <> 'scheduled' OR scheduled_for IS NOT NULL"),
        check("payouts", "paid", "status <> 'paid' OR paid_at IS NOT NULL"),
    )
    index("payouts", "partner_id", "status")
    index("payouts", "status", "due_on")
    index("payouts", "opportunity_id")
    index("payouts", "reference")

    op.create_table(
        "payout_entries",
        sa.Column("ledger_entry_id", ID, nullable=False),
        sa.Column("payout_id", ID, nullable=False),
        pk("payout_entries", "ledger_entry_id"),
        fk("payout_entries", "ledger_entry_id", "ledger_entries.id"),
        fk("payout_entries", "payout_id", "payouts.id"),
    )
    index("payout_entries", "payout_id")


def _audit() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", ID, nullable=False),
        sa.Column("at", INSTANT, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("entity_kind", ENUM, nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        pk("audit_log", "id"),
        one_of(
            "audit_log",
            "entity_kind",
            (
                "partner",
                "blocked_account",
                "api_key",
                "opportunity",
                "registration",
                "agreement",
                "agreement_rule",
                "ledger_entry",
                "payout",
            ),
        ),
    )
    index("audit_log", "entity_kind", "entity_id", "at")
    index("audit_log", "at")


def _refuse_changes(tables: Sequence[str]) -> None:
    """Database triggers that make ``tables`` append-only (constraint errors on violation)."""
    dialect = op.get_context().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION partnersync_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only: ' || TG_OP "
            "|| ' refused', ERRCODE = 'restrict_violation'; "
            "END $$"
        )
        for table in tables:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION partnersync_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION partnersync_append_only()"
            )
    elif dialect == "sqlite":
        for table in tables:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
                )
    else:
        raise NotImplementedError(f"partnersync supports SQLite and PostgreSQL, not {dialect}")


def downgrade() -> None:
    for table in (
        "audit_log",
        "payout_entries",
        "payouts",
        "ledger_entries",
        "agreement_rules",
        "agreements",
        "registrations",
        "outbox",
        "quarantine",
        "sync_state",
        "opportunities",
        "api_keys",
        "blocked_accounts",
        "partners",
    ):
        op.drop_table(table)  # drops its indexes and triggers with it
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION partnersync_append_only()")
