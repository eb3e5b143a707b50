"""Commission money: agreements and their rules, the append-only ledger, payouts.

Principle 5: an amount is never updated in place. ``ledger_entries`` only grows (an ORM
guard and database triggers refuse updates and deletes); a change is a new ``adjustment``,
an undo a ``reversal`` naming the entry it negates. Each entry carries an idempotency key
so a replayed job never counts twice. A payout is the unit finance pays; which ledger
entries it covers is recorded in ``payout_entries``, insert-only too, so linking an entry
to a payout never touches the ledger row.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rules.vocabulary import (
    AccrualTrigger,
    CoSellDirection,
    LedgerKind,
    MoneyFlow,
    PayoutStatus,
    RuleBasis,
)
from sync.store.models.base import Base, append_only
from sync.store.types import ID, MONEY, PERCENT, CurrencyCode, UTCDateTime, enum_type, utcnow

if TYPE_CHECKING:
    from sync.store.models.crm import Opportunity
    from sync.store.models.partners import Partner

__all__ = ["Agreement", "AgreementRule", "LedgerEntry", "Payout", "PayoutEntry"]

#: Effective-dated rows are half-open: in force from ``effective_from`` (inclusive) until
#: ``effective_to`` (exclusive; ``NULL``: open-ended). An empty period is allowed: a rule
#: closed on the day it started never applied.
_PERIOD = "effective_to IS NULL OR effective_to >= effective_from"


class Agreement(Base):
    """One version of a partner's commission agreement.

    An amendment adds version ``n + 1`` and sets ``frozen`` on the prior one, which is
    read-only from then on (the service refuses edits to a frozen agreement).
    """

    __tablename__ = "agreements"
    __table_args__ = (
        # Leads with partner_id, so it also serves as that foreign key's index.
        UniqueConstraint("partner_id", "version"),
        CheckConstraint("version >= 1", name="version"),
        CheckConstraint(_PERIOD, name="period"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), ForeignKey("partners.id"))
    name: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date]
    effective_to: Mapped[date | None]
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    partner: Mapped[Partner] = relationship()
    rules: Mapped[list[AgreementRule]] = relationship(
        back_populates="agreement", order_by="AgreementRule.id"
    )

    def __repr__(self) -> str:
        return f"Agreement(id={self.id!r}, partner_id={self.partner_id!r}, v{self.version})"


class AgreementRule(Base):
    """One effective-dated commission rule of an agreement.

    ``practice`` is a practice name or ``*`` (any; an exact name wins over it).
    ``percent`` of the ``basis`` (10 means 10 %), bounded by ``floor``/``ceiling``, which
    are in ``currency`` (``NULL``: the deal's currency). A rule edit closes this row
    (``effective_to``) and adds a new one, so ledger entries keep pointing at the rule
    that produced them.
    """

    __tablename__ = "agreement_rules"
    __table_args__ = (
        CheckConstraint("percent >= 0", name="percent"),
        CheckConstraint("floor IS NULL OR floor >= 0", name="floor"),
        CheckConstraint(
            "ceiling IS NULL OR floor IS NULL OR ceiling >= floor", name="ceiling_above_floor"
        ),
        CheckConstraint("payout_delay_days >= 0", name="payout_delay_days"),
        CheckConstraint(_PERIOD, name="period"),
        Index(
            "ix_agreement_rules_agreement_id_practice_direction",
            "agreement_id",
            "practice",
            "direction",
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    agreement_id: Mapped[int] = mapped_column(ID, ForeignKey("agreements.id"))
    practice: Mapped[str] = mapped_column(String(100))
    direction: Mapped[CoSellDirection] = mapped_column(enum_type(CoSellDirection, "direction"))
    basis: Mapped[RuleBasis] = mapped_column(enum_type(RuleBasis, "basis"))
    percent: Mapped[Decimal] = mapped_column(PERCENT)
    floor: Mapped[Decimal | None] = mapped_column(MONEY)
    ceiling: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str | None] = mapped_column(CurrencyCode)
    flow: Mapped[MoneyFlow] = mapped_column(enum_type(MoneyFlow, "flow"))
    trigger: Mapped[AccrualTrigger] = mapped_column(enum_type(AccrualTrigger, "trigger"))
    payout_delay_days: Mapped[int] = mapped_column(Integer, default=0)
    effective_from: Mapped[date]
    effective_to: Mapped[date | None]

    agreement: Mapped[Agreement] = relationship(back_populates="rules")


@append_only
class LedgerEntry(Base):
    """One append-only commission movement for a partner, in ``currency``.

    ``amount`` is signed: a reversal carries the negated amount of the entry it reverses
    (``reverses_entry_id``, at most one reversal per entry) and a reason.
    ``basis_amount`` is what the rule's percent was applied to. ``occurred_at`` is when
    the business event happened (close, payment); ``created_at`` when the row was written.
    ``idempotency_key`` identifies the event, e.g. ``accrual:salesforce:006...:rule:7``.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        CheckConstraint(
            "kind <> 'reversal' OR (reverses_entry_id IS NOT NULL AND reason IS NOT NULL)",
            name="reversal_names_entry",
        ),
        CheckConstraint(
            "kind = 'reversal' OR reverses_entry_id IS NULL", name="only_reversal_reverses"
        ),
        Index("ix_ledger_entries_partner_id_occurred_at", "partner_id", "occurred_at"),
        Index("ix_ledger_entries_opportunity_id", "opportunity_id"),
        Index("ix_ledger_entries_agreement_rule_id", "agreement_rule_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), ForeignKey("partners.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ID, ForeignKey("opportunities.id"))
    agreement_rule_id: Mapped[int | None] = mapped_column(ID, ForeignKey("agreement_rules.id"))
    kind: Mapped[LedgerKind] = mapped_column(enum_type(LedgerKind, "kind"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    basis_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    flow: Mapped[MoneyFlow] = mapped_column(enum_type(MoneyFlow, "flow"))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    reverses_entry_id: Mapped[int | None] = mapped_column(
        ID, ForeignKey("ledger_entries.id"), unique=True
    )
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return (
            f"LedgerEntry(id={self.id!r}, kind={self.kind!r}, amount={self.amount!r}, "
            f"currency={self.currency!r})"
        )


class Payout(Base):
    """Money to pay a partner (or collect from one, ``flow``) for a deal.

    States: ``accrued`` -> ``approved`` -> ``scheduled`` (``scheduled_for``) -> ``paid``
    (``paid_at``, the payment date, and the bulk-pay ``reference``), or ``reversed``.
    ``due_on`` is when it falls due (trigger date + the rule's payout delay). ``amount``
    is the sum of the covered ledger entries, fixed when the payout is created.
    """

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("status <> 'scheduled' OR scheduled_for IS NOT NULL", name="scheduled"),
        CheckConstraint("status <> 'paid' OR paid_at IS NOT NULL", name="paid"),
        Index("ix_payouts_partner_id_status", "partner_id", "status"),
        Index("ix_payouts_status_due_on", "status", "due_on"),
        Index("ix_payouts_opportunity_id", "opportunity_id"),
        Index("ix_payouts_reference", "reference"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), ForeignKey("partners.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ID, ForeignKey("opportunities.id"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(CurrencyCode)
    flow: Mapped[MoneyFlow] = mapped_column(enum_type(MoneyFlow, "flow"))
    status: Mapped[PayoutStatus] = mapped_column(
        enum_type(PayoutStatus, "status"), default=PayoutStatus.ACCRUED
    )
    reference: Mapped[str | None] = mapped_column(String(255))
    due_on: Mapped[date | None]
    scheduled_for: Mapped[date | None]
    paid_at: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    partner: Mapped[Partner] = relationship()
    opportunity: Mapped[Opportunity | None] = relationship()
    entries: Mapped[list[LedgerEntry]] = relationship(
        secondary="payout_entries", order_by="LedgerEntry.id", viewonly=True
    )

    def __repr__(self) -> str:
        return f"Payout(id={self.id!r}, status={self.status!r}, amount={self.amount!r})"


class PayoutEntry(Base):
    """Links a ledger entry to the payout that covers it; an entry is covered at most once."""

    __tablename__ = "payout_entries"
    __table_args__ = (Index("ix_payout_entries_payout_id", "payout_id"),)

    ledger_entry_id: Mapped[int] = mapped_column(
        ID, ForeignKey("ledger_entries.id"), primary_key=True
    )
    payout_id: Mapped[int] = mapped_column(ID, ForeignKey("payouts.id"))
