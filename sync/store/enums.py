"""The closed vocabularies of the partner store, one ``StrEnum`` each.

Each enum is the single definition of its allowed values: the models build their column
types (and the database CHECK constraints) from it, so code and schema cannot disagree.
Adding a value is a schema change and needs a migration that widens the CHECK.

This module imports nothing but the standard library, so the pure ``rules`` core could
own these definitions later without change.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AccrualTrigger",
    "ApiKeyRole",
    "AuditEntity",
    "BlockKind",
    "CoSellDirection",
    "Crm",
    "LedgerKind",
    "MoneyFlow",
    "OutboxStatus",
    "PayoutStatus",
    "RegistrationSource",
    "RegistrationStatus",
    "RuleBasis",
]


class Crm(StrEnum):
    """The CRMs partnersync mirrors."""

    SALESFORCE = "salesforce"
    HUBSPOT = "hubspot"


class CoSellDirection(StrEnum):
    """Who sourced and who sells a deal; "direct" is the company running partnersync."""

    PARTNER_SOURCED_PARTNER_SOLD = "partner_sourced_partner_sold"
    DIRECT_SOURCED_PARTNER_SOLD = "direct_sourced_partner_sold"
    PARTNER_SOURCED_DIRECT_SOLD = "partner_sourced_direct_sold"


class RegistrationStatus(StrEnum):
    """The states of a deal registration."""

    PENDING = "pending"
    APPROVED = "approved"  # protected until ``protected_until``
    REJECTED = "rejected"  # ``reason`` says why
    CONFLICT = "conflict"  # held for review, ``conflict_with`` names the other claim
    EXPIRED = "expired"
    WON = "won"
    LOST = "lost"


class RegistrationSource(StrEnum):
    """Where a registration was submitted."""

    API = "api"
    CLI = "cli"
    CRM = "crm"  # created from a mirrored deal that names a partner


class BlockKind(StrEnum):
    """Why an account can not be registered by partners."""

    HOUSE = "house"
    DO_NOT_CONTACT = "do_not_contact"


class RuleBasis(StrEnum):
    """What a commission percent applies to."""

    AMOUNT = "amount"
    MARGIN = "margin"  # amount - cost
    PAID = "paid"  # paid amount


class MoneyFlow(StrEnum):
    """Which way commission money moves."""

    PAYABLE = "payable"  # we pay the partner
    RECEIVABLE = "receivable"  # the partner pays us


class AccrualTrigger(StrEnum):
    """The deal event that accrues a commission."""

    CLOSED_WON = "closed_won"
    PAID = "paid"


class LedgerKind(StrEnum):
    """The kinds of append-only ledger rows."""

    ACCRUAL = "accrual"
    ADJUSTMENT = "adjustment"  # the amount changed after close
    REVERSAL = "reversal"  # negates one earlier entry, with a reason


class PayoutStatus(StrEnum):
    """The states of a payout: accrued -> approved -> scheduled -> paid, or reversed."""

    ACCRUED = "accrued"
    APPROVED = "approved"
    SCHEDULED = "scheduled"
    PAID = "paid"
    REVERSED = "reversed"


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
