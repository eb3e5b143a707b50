"""Deal registrations: a partner's claim on a customer opportunity."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rules.vocabulary import RegistrationSource, RegistrationStatus
from sync.store.enums import Crm, DealCreateStatus
from sync.store.models.base import Base
from sync.store.types import ID, MONEY, CurrencyCode, UTCDateTime, enum_type, utcnow

if TYPE_CHECKING:
    from sync.store.models.crm import Opportunity
    from sync.store.models.partners import Partner

__all__ = [
    "LIVE_STATUSES",
    "OPEN_CREATE_STATUSES",
    "REGISTRATION_LIVE",
    "DealCreate",
    "Registration",
    "RegistrationToken",
]

#: The states of a live claim (the rules' ``LIVE``), in a fixed order.
LIVE_STATUSES = (
    RegistrationStatus.PENDING,
    RegistrationStatus.APPROVED,
    RegistrationStatus.CONFLICT,
)
_LIVE_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in LIVE_STATUSES) + ")"
_APPROVED = text("status = 'approved'")
_LINKED = text("opportunity_id IS NOT NULL")
_IN_CONFLICT = text("conflict_with IS NOT NULL")


def _customer_key(context: Any) -> str:
    """The domain key, else ``name:`` + the name key (when an insert does not give it)."""
    values = context.get_current_parameters()
    return values.get("customer_domain_key") or f"name:{values.get('customer_name_key')}"


class Registration(Base):
    """A partner's claim on a customer, from submission to its outcome.

    ``customer_name_key``/``customer_domain_key`` are the normalised customer keys
    (``rules.matching``) that conflicts and deal links are matched on; they are indexed
    with ``status`` because matching only considers live claims. ``protected_until`` is
    the last protected day (inclusive) and is required once approved. ``conflict_with``
    names the registration this one collides with (conflicts with a house account or a
    direct deal have none). ``opportunity_id`` is the mirrored deal it is linked to.

    ``customer_key`` is the domain key, else ``name:`` + the name key: a partial unique
    index allows one *approved* registration per customer key, so the database itself
    refuses a second holder, also to two writers racing. ``reason`` is a stable code
    (``rules.registration.Reason``); ``note`` the words a decision came with.
    """

    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint("currency IS NOT NULL OR amount IS NULL", name="amount_has_currency"),
        CheckConstraint(
            "status <> 'approved' OR protected_until IS NOT NULL", name="approved_protected"
        ),
        CheckConstraint("extensions_used >= 0", name="extensions_used"),
        Index("ix_registrations_partner_id_status", "partner_id", "status"),
        Index("ix_registrations_status_protected_until", "status", "protected_until"),
        # The live claims on a customer, by either key: what every check reads (migration
        # 0004), with the columns a batch filters them on (0005). Queries say "live" with
        # REGISTRATION_LIVE, so the planners see they apply.
        *(
            Index(
                f"ix_registrations_live_{name}",
                *columns,
                sqlite_where=text(_LIVE_SQL),
                postgresql_where=text(_LIVE_SQL),
            )
            for name, columns in (
                ("domain", ("customer_domain_key", "partner_id", "status")),
                ("name", ("customer_name_key", "customer_domain_key", "partner_id", "status")),
            )
        ),
        # Sparse columns: their indexes hold the set values only (migration 0004).
        *(
            Index(f"ix_registrations_{c}", c, sqlite_where=w, postgresql_where=w)
            for c, w in (("opportunity_id", _LINKED), ("conflict_with", _IN_CONFLICT))
        ),
        Index(
            "uq_registrations_customer_key_approved",
            "customer_key",
            unique=True,
            sqlite_where=_APPROVED,
            postgresql_where=_APPROVED,
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), ForeignKey("partners.id"))
    customer_name: Mapped[str] = mapped_column(String(255))
    customer_domain: Mapped[str | None] = mapped_column(String(255))
    customer_name_key: Mapped[str] = mapped_column(String(255))
    customer_domain_key: Mapped[str | None] = mapped_column(String(255))
    customer_key: Mapped[str] = mapped_column(String(260), default=_customer_key)
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str | None] = mapped_column(CurrencyCode)
    practice: Mapped[str | None] = mapped_column(String(100))
    close_date: Mapped[date | None]
    status: Mapped[RegistrationStatus] = mapped_column(
        enum_type(RegistrationStatus, "status"), default=RegistrationStatus.PENDING
    )
    reason: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    protected_until: Mapped[date | None]
    extensions_used: Mapped[int] = mapped_column(Integer, default=0)
    conflict_with: Mapped[int | None] = mapped_column(ID, ForeignKey("registrations.id"))
    opportunity_id: Mapped[int | None] = mapped_column(ID, ForeignKey("opportunities.id"))
    source: Mapped[RegistrationSource] = mapped_column(enum_type(RegistrationSource, "source"))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    partner: Mapped[Partner] = relationship()
    opportunity: Mapped[Opportunity | None] = relationship()
    conflicting: Mapped[Registration | None] = relationship(remote_side="Registration.id")

    def __repr__(self) -> str:
        return (
            f"Registration(id={self.id!r}, partner_id={self.partner_id!r}, status={self.status!r})"
        )


class RegistrationToken(Base):
    """One word of a live registration's customer name key: where a fuzzy name comparison
    finds its candidates (a few hundred registrations sharing a word) without a scan. A
    registration's words leave when it ends (rejected, expired, won, lost): only live
    claims are ever compared."""

    __tablename__ = "registration_tokens"
    __table_args__ = (
        # A submission with a domain is compared with the claims without one only (a
        # domain on both sides decides): most live claims have a domain (migration 0010).
        Index("ix_registration_tokens_domainless", "token", "registration_id",
              sqlite_where=text("domainless = 1"), postgresql_where=text("domainless")),
    )  # fmt: skip

    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ID, ForeignKey("registrations.id"), primary_key=True, index=True
    )
    #: The registration has no customer domain (copied: its domain never changes).
    domainless: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


#: Deal creates still to be sent.
OPEN_CREATE_STATUSES: tuple[DealCreateStatus, ...] = (
    DealCreateStatus.PENDING,
    DealCreateStatus.RETRY,
)


class DealCreate(Base):
    """A deal to create in ``crm`` for an approved registration that has none
    (``[program] create_deals_on_approval``), and what became of it.

    ``key`` is written to the mapping's ``[create] external_id`` field and the create is
    an upsert on it: sent again after a crash, it finds the deal it made instead of making
    a second. The mirror reads the field back (``Opportunity.registration_key``) and links
    the deal to the registration by it. One row per registration, ever.
    """

    __tablename__ = "deal_creates"
    __table_args__ = (
        Index("ix_deal_creates_crm_status_next_attempt_at", "crm", "status", "next_attempt_at"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    registration_id: Mapped[int] = mapped_column(ID, ForeignKey("registrations.id"), unique=True)
    crm: Mapped[Crm] = mapped_column(enum_type(Crm, "crm"))
    key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[DealCreateStatus] = mapped_column(
        enum_type(DealCreateStatus, "status"), default=DealCreateStatus.PENDING
    )
    crm_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_code: Mapped[str | None] = mapped_column(String(100))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    registration: Mapped[Registration] = relationship()


#: "The registration is live", with the states as literals, as the partial indexes'
#: condition is written: SQLite uses a partial index only where the query's terms prove
#: its condition, which ``status IN (?, ?, ?)`` with bound values never does.
REGISTRATION_LIVE = Registration.status.in_([literal_column(f"'{s.value}'") for s in LIVE_STATUSES])
