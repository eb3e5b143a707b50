"""Partners, the accounts partners may not claim, and HTTP API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import InstrumentedAttribute, Mapped, mapped_column

from rules.vocabulary import BlockKind
from sync.store.enums import ApiKeyRole, Crm
from sync.store.models.base import Base
from sync.store.types import ID, UTCDateTime, enum_type, utcnow

__all__ = ["ApiKey", "BlockedAccount", "IdempotentRequest", "Partner"]


class Partner(Base):
    """A partner company, keyed by its short id (``ACME``), with its CRM account ids.

    ``tier`` is free text checked by the service against the configured tiers
    (``[program] protection_days``), since RevOps may add tiers without a migration.
    """

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    tier: Mapped[str] = mapped_column(String(32))
    salesforce_account_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    hubspot_company_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: A deactivated partner keeps its history but registers nothing new.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @classmethod
    def account_id_column(cls, crm: Crm) -> InstrumentedAttribute[str | None]:
        """The column holding the partner's account (company) id in ``crm``."""
        return {
            Crm.SALESFORCE: cls.salesforce_account_id,
            Crm.HUBSPOT: cls.hubspot_company_id,
        }[crm]

    def __repr__(self) -> str:
        return f"Partner(id={self.id!r}, tier={self.tier!r})"


class BlockedAccount(Base):
    """A customer partners may not register: a house account or a do-not-contact one.

    ``domain`` is the normalised customer domain (the same normalisation as a
    registration's ``customer_domain_key``), so matching is an equality; ``name_key`` the
    normalised name, which a registration without a domain is matched on.
    """

    __tablename__ = "blocked_accounts"

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    domain: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str | None] = mapped_column(String(255))
    name_key: Mapped[str | None] = mapped_column(String(255), index=True)
    kind: Mapped[BlockKind] = mapped_column(enum_type(BlockKind, "kind"))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """A bearer key of the HTTP API, stored only as a hash.

    An admin key belongs to no partner; a partner key to exactly one, and it sees and
    submits only that partner's data. Revoked keys stay for the audit trail.
    """

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "(role = 'partner' AND partner_id IS NOT NULL) "
            "OR (role = 'admin' AND partner_id IS NULL)",
            name="role_partner",
        ),
        Index("ix_api_keys_partner_id", "partner_id"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: The key's public start (``ps_3f9a2c1d``): it names the key in lists, logs and
    #: ``api-keys revoke`` without revealing it.
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[ApiKeyRole] = mapped_column(enum_type(ApiKeyRole, "role"))
    partner_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("partners.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotentRequest(Base):
    """The first answer to an HTTP request sent with an ``Idempotency-Key``, replayed to
    the same key's later requests with that header instead of acting twice.

    The row is written before the request acts (``status`` NULL: in progress), so two
    requests racing with one key act once. ``fingerprint`` (a SHA-256 of the method, path
    and body) refuses a key reused for another request. Rows expire after a day.
    """

    __tablename__ = "idempotent_requests"
    __table_args__ = (
        UniqueConstraint("api_key_id", "key", name="uq_idempotent_requests_api_key_id_key"),
        Index("ix_idempotent_requests_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ID, ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
