"""The store's own closed vocabularies: CRMs, outbox states, API key roles, audited kinds.

Each enum is the single definition of its allowed values: the models build their column
types (and the database CHECK constraints) from it. The partner program's vocabulary
(registration and payout states, directions, bases, ...) lives in :mod:`rules.vocabulary`,
where the pure rules can use it; the store builds its constraints from those the same way.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ApiKeyRole",
    "AuditEntity",
    "Crm",
    "DealCreateStatus",
    "OutboxStatus",
]


class Crm(StrEnum):
    """The CRMs partnersync mirrors."""

    SALESFORCE = "salesforce"
    HUBSPOT = "hubspot"


class OutboxStatus(StrEnum):
    """The states of a pending CRM write."""

    PENDING = "pending"
    RETRY = "retry"  # a transient failure; tried again at ``next_attempt_at``
    DONE = "done"
    REJECTED = "rejected"  # the CRM refused it; kept with the error


class ApiKeyRole(StrEnum):
    """What an HTTP API key may do."""

    ADMIN = "admin"
    PARTNER = "partner"  # sees and submits only its partner's data


class AuditEntity(StrEnum):
    """The kinds of things the audit log records changes of."""

    PARTNER = "partner"
    BLOCKED_ACCOUNT = "blocked_account"
    API_KEY = "api_key"
    OPPORTUNITY = "opportunity"
    REGISTRATION = "registration"
    AGREEMENT = "agreement"
    AGREEMENT_RULE = "agreement_rule"
    LEDGER_ENTRY = "ledger_entry"
    PAYOUT = "payout"


class DealCreateStatus(StrEnum):
    """The states of a deal to create in the CRM for an approved registration."""

    PENDING = "pending"
    RETRY = "retry"  # a transient failure; tried again at ``next_attempt_at``
    CREATED = "created"  # the CRM holds the deal (``crm_id``)
    REJECTED = "rejected"  # the CRM refused it; kept with the error
    CANCELLED = "cancelled"  # not needed any more: the registration ended or has a deal
