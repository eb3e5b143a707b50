"""What the registration rules need to know, looked up with indexed queries, and how their
decisions are written: state, audit row and the CRM's fields, in one transaction.

No look-up scans a table: live claims come from the (customer key, status) indexes,
blocked accounts from their domain and name keys, direct deals from the mirror's
customer-key indexes, and fuzzy name candidates from ``registration_tokens``, a few
hundred at most, scored by ``rules.matching.name_score``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from rules.matching import name_score, name_tokens
from rules.registration import (
    LIVE,
    Block,
    Change,
    Claim,
    DirectDeal,
    FuzzyMatch,
    same_customer,
)
from sync.audit import record
from sync.partners import blocks_for
from sync.store import (
    AuditEntity,
    Opportunity,
    Partner,
    Registration,
    RegistrationStatus,
    RegistrationToken,
)
from sync.writeback.outbox import stage

__all__ = [
    "FUZZY_CANDIDATES",
    "apply_change",
    "blocks",
    "claim",
    "claims_on",
    "customer_key",
    "direct_deals",
    "fuzzy_matches",
    "lock_customers",
    "registration_fields",
    "stage_registration",
    "write_tokens",
]

#: The most registrations a fuzzy comparison scores (found through shared name words).
FUZZY_CANDIDATES = 300
_LIVE = tuple(LIVE)


def customer_key(name_key: str | None, domain_key: str | None) -> str:
    """The key the database holds one approved registration per: the domain, else the name."""
    return domain_key if domain_key else f"name:{name_key}"


def claim(registration: Registration, tier: str = "") -> Claim:
    """A registration as the rules see it."""
    return Claim(
        id=registration.id,
        partner_id=registration.partner_id,
        status=registration.status,
        name_key=registration.customer_name_key,
        domain_key=registration.customer_domain_key,
        protected_until=registration.protected_until,
        extensions_used=registration.extensions_used,
        tier=tier,
        conflict_with=registration.conflict_with,
    )


def lock_customers(session: Session, keys: Iterable[str | None]) -> None:
    """Serialise decisions on these customer keys until the transaction ends.

    PostgreSQL: transaction-level advisory locks, taken in a fixed order (no deadlock
    between two deciders). SQLite: every write transaction already holds the database's
    write lock from its start (``BEGIN IMMEDIATE``), so there is nothing more to take.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    wanted = sorted({f"partnersync:customer:{k}" for k in keys if k})
    if wanted:  # one round trip, whatever the number of keys
        session.execute(
            text(
                "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
                "FROM unnest(CAST(:keys AS text[])) AS k"  # in the array's (sorted) order
            ),
            {"keys": wanted},
        )


def registrations_on(
    session: Session, name_keys: Iterable[str], domain_keys: Iterable[str], *, live: bool = True
) -> list[Registration]:
    """Registrations whose name or domain key is one of these (live ones by default)."""
    names, domains = list(set(name_keys)), list(set(domain_keys))
    if not names and not domains:
        return []
    keyed = []
    if domains:
        keyed.append(Registration.customer_domain_key.in_(domains))
    if names:
        keyed.append(Registration.customer_name_key.in_(names))
    query = select(Registration).where(or_(*keyed))
    if live:
        query = query.where(Registration.status.in_(_LIVE))
    return list(session.scalars(query.order_by(Registration.id)))


def tiers(session: Session, partner_ids: Iterable[str]) -> dict[str, str]:
    wanted = list(set(partner_ids))
    if not wanted:
        return {}
    rows = session.execute(select(Partner.id, Partner.tier).where(Partner.id.in_(wanted)))
    return dict(rows.tuples().all())


def claims_on(
    session: Session, name_key: str | None, domain_key: str | None
) -> list[tuple[Registration, Claim]]:
    """The live registrations on this customer (the rules' :func:`same_customer`), with
    their partners' tiers: one query."""
    keyed = []
    if domain_key:
        keyed.append(Registration.customer_domain_key == domain_key)
    if name_key:
        keyed.append(Registration.customer_name_key == name_key)
    if not keyed:
        return []
    rows = session.execute(
        select(Registration, Partner.tier)
        .join(Partner, Partner.id == Registration.partner_id)
        .where(or_(*keyed), Registration.status.in_(_LIVE))
        .order_by(Registration.id)
    ).tuples()
    pairs = [(r, claim(r, tier or "")) for r, tier in rows]
    return [(r, c) for r, c in pairs if same_customer(name_key, domain_key, c)]


def blocks(session: Session, name_key: str | None, domain_key: str | None) -> tuple[Block, ...]:
    found = blocks_for(session, [domain_key] if domain_key else [], [name_key] if name_key else [])
    return tuple(Block(b.kind, b.domain, b.name_key) for b in found)


def direct_deals(
    session: Session, name_key: str | None, domain_key: str | None, *, limit: int = 5
) -> tuple[DirectDeal, ...]:
    """Open mirrored deals on this customer with no partner on them."""
    keyed = []
    if domain_key:
        keyed.append(Opportunity.customer_domain_key == domain_key)
    if name_key:
        keyed.append(Opportunity.customer_name_key == name_key)
    if not keyed:
        return ()
    rows = session.execute(
        select(
            Opportunity.crm, Opportunity.crm_id, Opportunity.name,
            Opportunity.customer_name_key, Opportunity.customer_domain_key,
        )
        .where(
            or_(*keyed),
            Opportunity.partner_id.is_(None),
            Opportunity.partner_ref.is_(None),
            Opportunity.is_closed.is_(False),
            Opportunity.deleted.is_(False),
        )
        .order_by(Opportunity.id)
        .limit(limit * 4)
    )  # fmt: skip
    deals = []
    for crm, crm_id, name, deal_name_key, deal_domain_key in rows:
        probe = Claim(0, "", RegistrationStatus.PENDING, deal_name_key, deal_domain_key)
        if same_customer(name_key, domain_key, probe):
            deals.append(DirectDeal(crm.value, crm_id, name))
    return tuple(deals[:limit])


def fuzzy_matches(session: Session, name_key: str | None, threshold: int) -> tuple[FuzzyMatch, ...]:
    """Live registrations whose name shares a word with ``name_key`` and scores at or
    above ``threshold``: at most :data:`FUZZY_CANDIDATES` scored, longest words first."""
    if not name_key or threshold <= 0:
        return ()
    words = sorted(name_tokens(name_key), key=len, reverse=True)
    if not words:
        return ()
    ids = select(RegistrationToken.registration_id).where(RegistrationToken.token.in_(words))
    rows = session.scalars(
        select(Registration)
        .where(Registration.id.in_(ids), Registration.status.in_(_LIVE))
        .order_by(Registration.id.desc())
        .limit(FUZZY_CANDIDATES)
    ).all()
    tier = tiers(session, (r.partner_id for r in rows))
    matches = []
    for registration in rows:
        score = name_score(name_key, registration.customer_name_key)
        if score >= threshold:
            matches.append(
                FuzzyMatch(claim(registration, tier.get(registration.partner_id, "")), score)
            )
    return tuple(matches)


def write_tokens(session: Session, registrations: Sequence[Registration]) -> None:
    """The name words of new registrations, for later fuzzy look-ups."""
    rows = [
        {"token": token[:64], "registration_id": r.id}
        for r in registrations
        for token in name_tokens(r.customer_name_key)
    ]
    if rows:
        session.execute(RegistrationToken.__table__.insert(), rows)  # type: ignore[attr-defined]


def registration_fields(
    registration: Registration, holders: Mapping[int, str] | None = None
) -> dict[str, Any]:
    """The CRM fields a linked deal shows of its registration; for a conflict, the partner
    of the registration it collides with (from ``holders``, by id, when given)."""
    holder = None
    if registration.status is RegistrationStatus.CONFLICT and registration.conflict_with:
        holder = (holders or {}).get(registration.conflict_with)
    return {
        "registration.id": str(registration.id),
        "registration.status": registration.status,
        "registration.reason": registration.reason,
        "registration.protected_until": registration.protected_until,
        "registration.partner_id": registration.partner_id,
        "registration.conflict_partner_id": holder,
    }


def stage_registration(session: Session, registration: Registration) -> None:
    """Stage what the linked deal's CRM fields must show (nothing when not linked)."""
    if registration.opportunity_id is None:
        return
    opportunity = session.get(Opportunity, registration.opportunity_id)
    if opportunity is None or opportunity.deleted:
        return
    holders: dict[int, str] = {}
    if registration.status is RegistrationStatus.CONFLICT and registration.conflict_with:
        holder = session.scalar(
            select(Registration.partner_id).where(Registration.id == registration.conflict_with)
        )
        if holder is not None:
            holders[registration.conflict_with] = holder
    stage(session, opportunity, registration_fields(registration, holders))


def apply_change(
    session: Session,
    registration: Registration,
    change: Change,
    *,
    actor: str,
    now: datetime,
    note: str | None = None,
    decided: bool = True,
    matched: Sequence[str] = (),
) -> None:
    """Write one change the rules decided: the registration's fields, its audit row (with
    what ``matched``, for a submission), and (when it is linked to a deal) what the deal's
    CRM fields must show."""
    registration.status = change.status
    registration.reason = change.reason.value if change.reason else None
    registration.protected_until = change.protected_until
    registration.conflict_with = change.conflict_with
    registration.extensions_used = change.extensions_used
    if note is not None:
        registration.note = note
    if decided:
        registration.decided_at = now
        registration.decided_by = actor
    registration.customer_key = customer_key(
        registration.customer_name_key, registration.customer_domain_key
    )
    session.flush()
    audit = change.audit
    after = {**audit.after, "matched": list(matched)} if matched else dict(audit.after)
    reason = audit.reason if note is None else f"{audit.reason} ({note})"
    record(session, AuditEntity.REGISTRATION, registration.id, audit.action, dict(audit.before),
           after, reason, actor, at=now)  # fmt: skip
    stage_registration(session, registration)


def count_live(session: Session, partner_id: str) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                Registration.partner_id == partner_id, Registration.status.in_(_LIVE)
            )
        )
        or 0
    )


def view(registration: Registration, *, holder_visible: bool = True) -> dict[str, Any]:
    """A registration as the CLI and API show it (``conflict_with`` for admins only)."""
    out: dict[str, Any] = {
        "id": registration.id,
        "partner_id": registration.partner_id,
        "customer_name": registration.customer_name,
        "customer_domain": registration.customer_domain,
        "status": registration.status.value,
        "reason": registration.reason,
        "protected_until": registration.protected_until,
        "conflict_with": registration.conflict_with if holder_visible else None,
        "amount": registration.amount,
        "currency": registration.currency,
        "practice": registration.practice,
        "close_date": registration.close_date,
        "source": registration.source.value,
        "extensions_used": registration.extensions_used,
        "opportunity_id": registration.opportunity_id,
        "submitted_at": registration.submitted_at,
        "decided_at": registration.decided_at,
        "decided_by": registration.decided_by,
        "note": registration.note,
    }
    return out
