"""The CRM side of the store: mirrored opportunities, the outbox, sync state, quarantine.

The CRM is the truth for deals (principle 1): ``opportunities`` is a mirror, refreshed by
the pull. What must reach the CRM goes through ``outbox``; where each pull resumes is in
``sync_state``; records that could not be mirrored wait in ``quarantine``.
"""

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
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from rules.vocabulary import CoSellDirection
from sync.store.enums import Crm, OutboxStatus
from sync.store.models.base import Base
from sync.store.types import (
    ID,
    MONEY,
    CurrencyCode,
    JSONDocument,
    UTCDateTime,
    enum_type,
    utcnow,
)

if TYPE_CHECKING:
    from sync.store.models.partners import Partner

__all__ = [
    "OPEN_OUTBOX_STATUSES",
    "OUTBOX_OPEN",
    "Opportunity",
    "OutboxEntry",
    "QuarantinedRecord",
    "SyncState",
]

#: Outbox rows still to be sent; at most one of them per CRM record.
OPEN_OUTBOX_STATUSES: tuple[OutboxStatus, ...] = (OutboxStatus.PENDING, OutboxStatus.RETRY)
_OPEN_OUTBOX = text(
    "status IN (" + ", ".join(f"'{status.value}'" for status in OPEN_OUTBOX_STATUSES) + ")"
)


#: Open deals with no partner on them ("direct deals"), written as the queries write it so
#: SQLite's planner sees the partial indexes apply.
_CREATED = text("registration_key IS NOT NULL")
_OPEN_DIRECT = {
    "sqlite": text(
        "partner_id IS NULL AND partner_ref IS NULL AND is_closed IS 0 AND deleted IS 0"
    ),
    "postgresql": text(
        "partner_id IS NULL AND partner_ref IS NULL AND is_closed IS false AND deleted IS false"
    ),
}


class Opportunity(Base):
    """A CRM opportunity (Salesforce ``Opportunity``, HubSpot deal), as last mirrored.

    ``partner_ref`` is the raw partner value the CRM holds; ``partner_id`` the partner it
    resolved to, if any. ``registration_key`` is the key partnersync wrote on a deal it
    created for a registration (``DealCreate.key``). ``customer_name_key`` and
    ``customer_domain_key`` are the normalised customer keys (``rules.matching``) used to
    match registrations. ``amount``, ``paid_amount`` and ``cost`` are in ``currency``.
    ``crm_values`` holds, by CRM field name, the last value of each outbound-mapped field
    as read from or written to the CRM (money as text): the push compares with it to send
    only differences and to recognise its own writes coming back. A record deleted or
    archived in the CRM keeps its row with ``deleted`` set, so ledger rows keep pointing
    at it.
    """

    __tablename__ = "opportunities"
    __table_args__ = (
        UniqueConstraint("crm", "crm_id"),
        CheckConstraint(
            "currency IS NOT NULL OR (amount IS NULL AND paid_amount IS NULL AND cost IS NULL)",
            name="money_has_currency",
        ),
        CheckConstraint("deleted = (deleted_at IS NOT NULL)", name="deleted_at_iff_deleted"),
        Index("ix_opportunities_crm_crm_modified_at", "crm", "crm_modified_at"),
        Index("ix_opportunities_partner_id", "partner_id"),
        Index("ix_opportunities_partner_ref", "partner_ref"),
        Index("ix_opportunities_customer_domain_key", "customer_domain_key"),
        Index("ix_opportunities_customer_name_key", "customer_name_key"),
        Index(
            "ix_opportunities_registration_key",
            "registration_key",
            sqlite_where=_CREATED,
            postgresql_where=_CREATED,
        ),  # set on the few deals partnersync created (migration 0004)
        # A registration's channel-conflict check reads the open direct deals of a customer.
        Index(
            "ix_opportunities_open_direct_domain",
            "customer_domain_key",
            sqlite_where=_OPEN_DIRECT["sqlite"],
            postgresql_where=_OPEN_DIRECT["postgresql"],
        ),
        Index(  # with the domain: the deals without one on a name are one probe (0005)
            "ix_opportunities_open_direct_name",
            "customer_name_key",
            "customer_domain_key",
            sqlite_where=_OPEN_DIRECT["sqlite"],
            postgresql_where=_OPEN_DIRECT["postgresql"],
        ),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    crm: Mapped[Crm] = mapped_column(enum_type(Crm, "crm"))
    crm_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))
    account_name: Mapped[str | None] = mapped_column(String(255))
    account_domain: Mapped[str | None] = mapped_column(String(255))
    customer_name_key: Mapped[str | None] = mapped_column(String(255))
    customer_domain_key: Mapped[str | None] = mapped_column(String(255))
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    currency: Mapped[str | None] = mapped_column(CurrencyCode)
    stage: Mapped[str | None] = mapped_column(String(100))
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    close_date: Mapped[date | None]
    practice: Mapped[str | None] = mapped_column(String(100))
    direction: Mapped[CoSellDirection | None] = mapped_column(
        enum_type(CoSellDirection, "direction")
    )
    partner_ref: Mapped[str | None] = mapped_column(String(255))
    partner_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("partners.id"))
    paid_amount: Mapped[Decimal | None] = mapped_column(MONEY)
    paid_date: Mapped[date | None]
    cost: Mapped[Decimal | None] = mapped_column(MONEY)
    registration_key: Mapped[str | None] = mapped_column(String(80))
    crm_modified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    crm_values: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    partner: Mapped[Partner | None] = relationship()

    def __repr__(self) -> str:
        return f"Opportunity(id={self.id!r}, crm={self.crm!r}, crm_id={self.crm_id!r})"


class OutboxEntry(Base):
    """Field values that must reach one CRM record, coalesced: one open row per record.

    ``desired`` maps partnersync outbound sources (``registration.status``,
    ``payout.amount``, ...) to the values the CRM must show, money as text. A new change
    for a record with an open (``pending``/``retry``) row merges into that row; a partial
    unique index makes a second open row impossible. ``crm``/``crm_id`` are copied from the
    opportunity so the push batches per CRM without a join.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "uq_outbox_open_record",
            "crm",
            "crm_id",
            unique=True,
            sqlite_where=_OPEN_OUTBOX,
            postgresql_where=_OPEN_OUTBOX,
        ),
        Index("ix_outbox_crm_status_next_attempt_at", "crm", "status", "next_attempt_at"),
        Index("ix_outbox_opportunity_id", "opportunity_id"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    crm: Mapped[Crm] = mapped_column(enum_type(Crm, "crm"))
    crm_id: Mapped[str] = mapped_column(String(64))
    opportunity_id: Mapped[int] = mapped_column(ID, ForeignKey("opportunities.id"))
    desired: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_type(OutboxStatus, "status"), default=OutboxStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error_code: Mapped[str | None] = mapped_column(String(100))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    opportunity: Mapped[Opportunity] = relationship()


#: "The row is open", written with the states as literals, as the partial unique index's
#: condition is: SQLite uses a partial index only where the query's terms prove its
#: condition, which ``status IN (?, ?)`` with bound values never does (a look-up of a
#: page's records then read every open row of the CRM instead of one per record).
OUTBOX_OPEN = OutboxEntry.status.in_(
    [literal_column(f"'{status.value}'") for status in OPEN_OUTBOX_STATUSES]
)


class SyncState(Base):
    """Where the pull of one CRM object resumes.

    ``watermark`` (UTC) and ``watermark_id`` are the last (modified time, record id) read,
    the id breaking ties between equal timestamps on a page boundary. ``cursor`` is where
    an interrupted full read resumes (``None``: no full read in progress).
    ``deletes_checked_at`` is where the next read of deleted/archived records starts.
    ``details`` holds connector-specific extras.
    """

    __tablename__ = "sync_state"

    crm: Mapped[Crm] = mapped_column(enum_type(Crm, "crm"), primary_key=True)
    object: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    watermark_id: Mapped[str | None] = mapped_column(String(64))
    cursor: Mapped[str | None] = mapped_column(Text)
    deletes_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_full_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class QuarantinedRecord(Base):
    """A CRM record that could not be mirrored, with why and the payload as received.

    One row per record: a later bad version updates it (``last_seen_at``, ``attempts``),
    a later good version deletes it. ``payload`` is raw: floats are kept as their text.
    """

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("crm", "crm_id"),
        CheckConstraint("attempts >= 1", name="attempts"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    crm: Mapped[Crm] = mapped_column(enum_type(Crm, "crm"))
    crm_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument(raw=True))
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
