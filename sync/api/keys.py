"""HTTP API keys: created once and shown once, stored as a SHA-256 hash beside a public
prefix, revoked (never deleted) for the audit trail.

A key reads ``ps_<8 hex>_<43 url-safe characters>``: the first 11 characters are its
prefix, which names it in lists, the access log and ``api-keys revoke``; the rest is 256
random bits. A hash without salt or stretching is the right store for such a key (a
password needs them because it is guessable; 256 random bits are not), and it lets a
request find its key with one indexed look-up.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.audit import record
from sync.program import Conflict, NotFound, ProgramError, checked_id, checked_text
from sync.store import ApiKey, ApiKeyRole, AuditEntity, Partner, transaction

__all__ = [
    "Principal",
    "Unauthorized",
    "authenticate",
    "create_key",
    "key_view",
    "list_keys",
    "revoke_key",
]

_KEY = re.compile(r"(ps_[0-9a-f]{8})_[A-Za-z0-9_-]{43}")
_PREFIX = re.compile(r"ps_[0-9a-f]{8}")
#: Every request's look-up, built once: the table's columns (no ORM entity to load).
_KEYS = ApiKey.__table__.c
_BY_HASH = select(_KEYS.id, _KEYS.prefix, _KEYS.name, _KEYS.role, _KEYS.partner_id,
                  _KEYS.revoked_at).where(_KEYS.key_hash == bindparam("hash"))  # fmt: skip


class Unauthorized(ProgramError):
    """No key, a malformed one, or one the store does not know or has revoked."""

    code = "unauthorized"


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: its key's id, prefix, name, role and partner."""

    key_id: int
    prefix: str
    name: str
    role: ApiKeyRole
    partner_id: str | None

    @property
    def admin(self) -> bool:
        return self.role is ApiKeyRole.ADMIN

    @property
    def actor(self) -> str:
        """How the audit trail names what this key did."""
        return f"api:{self.prefix}:{self.name}"[:100]


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_view(key: ApiKey) -> dict[str, Any]:
    return {
        "prefix": key.prefix,
        "name": key.name,
        "role": key.role.value,
        "partner_id": key.partner_id,
        "created_at": key.created_at,
        "revoked_at": key.revoked_at,
    }


def create_key(
    factory: sessionmaker[Session],
    *,
    partner_id: str | None = None,
    admin: bool = False,
    name: str | None = None,
    actor: str,
) -> tuple[dict[str, Any], str]:
    """A new key for one partner, or an admin key: its view and the key itself, which is
    shown this once and never stored."""
    if admin == (partner_id is not None):
        raise ProgramError("give a partner id or ask for an admin key (one of them)",
                           field="partner_id")  # fmt: skip
    if partner_id is not None:
        checked_id(partner_id, "partner_id")
    label = checked_text(name or (partner_id or "admin"), "name", max_length=100)
    with transaction(factory) as session:
        if partner_id is not None:
            partner = session.get(Partner, partner_id)
            if partner is None:
                raise NotFound(f"no partner {partner_id!r}", field="partner_id")
            if not partner.active:
                raise Conflict(f"partner {partner_id} is inactive", code="inactive_partner",
                               field="partner_id")  # fmt: skip
        for _ in range(5):  # a prefix is 32 bits: a collision is rare, and retried
            prefix = f"ps_{secrets.token_hex(4)}"
            secret = f"{prefix}_{secrets.token_urlsafe(32)}"
            if session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix)) is None:
                break
        row = ApiKey(
            name=label, prefix=prefix, key_hash=_hash(secret),
            role=ApiKeyRole.ADMIN if admin else ApiKeyRole.PARTNER, partner_id=partner_id,
            created_at=datetime.now(UTC),
        )  # fmt: skip
        session.add(row)
        try:
            session.flush()
        except IntegrityError:  # pragma: no cover - two creations drew one prefix
            raise Conflict("a key with this prefix was just created; try again") from None
        view = key_view(row)
        record(session, AuditEntity.API_KEY, row.id, "created", None,
               {k: v for k, v in view.items() if k != "revoked_at"}, None, actor)  # fmt: skip
        return view, secret


def list_keys(factory: sessionmaker[Session]) -> list[dict[str, Any]]:
    with factory() as session:
        return [key_view(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_key(factory: sessionmaker[Session], prefix: str, *, actor: str) -> dict[str, Any]:
    """Revoke the key named by its prefix; its later requests are refused."""
    if not _PREFIX.fullmatch(prefix or ""):
        raise ProgramError(f"prefix: like ps_3f9a2c1d (got {prefix!r})", field="prefix")
    with transaction(factory) as session:
        key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix).with_for_update())
        if key is None:
            raise NotFound(f"no API key {prefix}", field="prefix")
        if key.revoked_at is not None:
            raise Conflict(f"API key {prefix} was revoked at {key.revoked_at:%Y-%m-%d %H:%M}Z",
                           code="revoked", field="prefix")  # fmt: skip
        key.revoked_at = datetime.now(UTC)
        record(session, AuditEntity.API_KEY, key.id, "revoked", {"revoked_at": None},
               {"revoked_at": key.revoked_at}, None, actor)  # fmt: skip
        return key_view(key)


def authenticate(session: Session, authorization: str | None) -> Principal:
    """The key of an ``Authorization: Bearer KEY`` header; :class:`Unauthorized` saying
    why not (the key itself is never repeated)."""
    if not authorization:
        raise Unauthorized("an API key is required: Authorization: Bearer KEY",
                           code="missing_key")  # fmt: skip
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _KEY.fullmatch(token):
        raise Unauthorized("the Authorization header is not 'Bearer ps_...' with a key",
                           code="malformed_key")  # fmt: skip
    key = session.execute(_BY_HASH, {"hash": _hash(token)}).one_or_none()
    if key is None:
        raise Unauthorized("unknown API key", code="unknown_key")
    if key.revoked_at is not None:
        raise Unauthorized(f"API key {key.prefix} is revoked", code="revoked_key")
    return Principal(key.id, key.prefix, key.name, key.role, key.partner_id)
