"""The partner program's vocabulary: the closed sets of values its rules speak in.

Registration and payout states, co-sell directions, commission bases, money flows,
accrual triggers, ledger kinds and the reasons accounts are blocked, one ``StrEnum``
each. They are the single definition of their values: the rules decide in them, the
mapping files name them, and the store builds its CHECK constraints from them, so code,
files and schema cannot disagree. Adding a value is a schema change (a migration that
widens the CHECK).

This module imports nothing but the standard library (``rules`` imports nothing of ours).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AccrualTrigger",
    "BlockKind",
    "CoSellDirection",
    "LedgerKind",
    "MoneyFlow",
    "PayoutStatus",
    "RegistrationSource",
    "RegistrationStatus",
    "RuleBasis",
]


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
