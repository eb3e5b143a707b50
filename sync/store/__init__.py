"""The partner store: SQLAlchemy 2.x models, sessions and Alembic migrations.

The store is the truth for partner data and a mirror of the CRM's deals (principle 1).
It runs embedded on SQLite (migrated on first use) or on PostgreSQL (migrated with
``partnersync db upgrade``)::

    ensure_schema(url)
    factory = session_factory(make_engine(url))
    with transaction(factory) as session:
        session.add(Partner(id="ACME", name="Acme Corp", tier="gold"))

Money is ``Decimal`` with a currency column beside it, instants UTC-aware ``datetime``,
dates ``date``, enumerations ``StrEnum`` checked by the database (principle 7).
Ledger entries and audit rows are append-only (principle 5).

Create and change schemas with :func:`upgrade` (the migrations), not
``Base.metadata.create_all()``: the append-only triggers live in the migrations.
"""

from __future__ import annotations

from rules.vocabulary import (
    AccrualTrigger,
    BlockKind,
    CoSellDirection,
    LedgerKind,
    MoneyFlow,
    PayoutStatus,
    RegistrationSource,
    RegistrationStatus,
    RuleBasis,
)
from sync.store.db import (
    make_engine,
    prepared,
    reading,
    redact,
    session_factory,
    transaction,
)
from sync.store.enums import ApiKeyRole, AuditEntity, Crm, DealCreateStatus, OutboxStatus
from sync.store.errors import AppendOnlyViolation, SchemaOutOfDate, StoreError, StoreUnavailable
from sync.store.models import (
    LIVE_STATUSES,
    OPEN_CREATE_STATUSES,
    OPEN_OUTBOX_STATUSES,
    OUTBOX_OPEN,
    REGISTRATION_LIVE,
    Agreement,
    AgreementRule,
    ApiKey,
    AuditEntry,
    Base,
    BlockedAccount,
    DealCreate,
    IdempotentRequest,
    Job,
    LedgerEntry,
    Opportunity,
    OutboxEntry,
    Partner,
    Payout,
    PayoutEntry,
    PullHint,
    QuarantinedRecord,
    Registration,
    RegistrationToken,
    SyncState,
    WebhookReceipt,
)
from sync.store.schema import current_revision, ensure_schema, head_revision, upgrade

__all__ = [
    "LIVE_STATUSES",
    "OPEN_CREATE_STATUSES",
    "OPEN_OUTBOX_STATUSES",
    "OUTBOX_OPEN",
    "REGISTRATION_LIVE",
    "AccrualTrigger",
    "Agreement",
    "AgreementRule",
    "ApiKey",
    "ApiKeyRole",
    "AppendOnlyViolation",
    "AuditEntity",
    "AuditEntry",
    "Base",
    "BlockKind",
    "BlockedAccount",
    "CoSellDirection",
    "Crm",
    "DealCreate",
    "DealCreateStatus",
    "IdempotentRequest",
    "Job",
    "LedgerEntry",
    "LedgerKind",
    "MoneyFlow",
    "Opportunity",
    "OutboxEntry",
    "OutboxStatus",
    "Partner",
    "Payout",
    "PayoutEntry",
    "PayoutStatus",
    "PullHint",
    "QuarantinedRecord",
    "Registration",
    "RegistrationSource",
    "RegistrationStatus",
    "RegistrationToken",
    "RuleBasis",
    "SchemaOutOfDate",
    "StoreError",
    "StoreUnavailable",
    "SyncState",
    "WebhookReceipt",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "make_engine",
    "prepared",
    "reading",
    "redact",
    "session_factory",
    "transaction",
    "upgrade",
]
