"""The partner store's tables, as typed SQLAlchemy models on one :class:`Base`."""

from __future__ import annotations

from sync.store.models.audit import AuditEntry
from sync.store.models.base import NAMING_CONVENTION, Base, append_only
from sync.store.models.crm import (
    OPEN_OUTBOX_STATUSES,
    OUTBOX_OPEN,
    Opportunity,
    OutboxEntry,
    QuarantinedRecord,
    SyncState,
)
from sync.store.models.jobs import Job, PullHint, WebhookReceipt
from sync.store.models.money import Agreement, AgreementRule, LedgerEntry, Payout, PayoutEntry
from sync.store.models.partners import ApiKey, BlockedAccount, IdempotentRequest, Partner
from sync.store.models.registrations import (
    LIVE_STATUSES,
    OPEN_CREATE_STATUSES,
    REGISTRATION_LIVE,
    DealCreate,
    Registration,
    RegistrationToken,
)

__all__ = [
    "LIVE_STATUSES",
    "NAMING_CONVENTION",
    "OPEN_CREATE_STATUSES",
    "OPEN_OUTBOX_STATUSES",
    "OUTBOX_OPEN",
    "REGISTRATION_LIVE",
    "Agreement",
    "AgreementRule",
    "ApiKey",
    "AuditEntry",
    "Base",
    "BlockedAccount",
    "DealCreate",
    "IdempotentRequest",
    "Job",
    "LedgerEntry",
    "Opportunity",
    "OutboxEntry",
    "Partner",
    "Payout",
    "PayoutEntry",
    "PullHint",
    "QuarantinedRecord",
    "Registration",
    "RegistrationToken",
    "SyncState",
    "WebhookReceipt",
    "append_only",
]
