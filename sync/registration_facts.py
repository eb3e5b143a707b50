"""What the registration rules need to know, looked up with indexed queries, and how their
decisions are written: state, audit row and the CRM's fields, in one transaction.

No look-up scans a table: live claims come from the partial indexes of live claims by
customer key (queries say "live" with ``REGISTRATION_LIVE``, so the planners use them),
blocked accounts from their domain and name keys, open direct deals from the mirror's
partial indexes on them (:func:`situation_and_partner` reads the three and the partner in
one statement), and fuzzy name candidates from ``registration_tokens``, which holds the
name words of live registrations only (those without a customer domain apart, in a
partial index): a few hundred candidates at most, scored in one rapidfuzz call.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from rules.matching import close_names, name_tokens
from rules.registration import (
    LIVE,
    Block,
    Change,
    Claim,
    DirectDeal,
    FuzzyMatch,
    Situation,
    same_customer,
)
from rules.vocabulary import BlockKind
from sync.audit import AuditRow, record_many
from sync.store import (
    REGISTRATION_LIVE,
    AuditEntity,
    BlockedAccount,
    Opportunity,
    Partner,
    Registration,
    RegistrationStatus,
    RegistrationToken,
)
from sync.store.bulk import insert, insert_absent_returning
from sync.writeback.outbox import stage

__all__ = [
    "FUZZY_CANDIDATES",
    "apply_change",
    "claim",
    "claims_on",
    "customer_key",
    "drop_tokens",
    "fuzzy_matches",
    "insert_submitted",
    "lock_customers",
    "registration_fields",
    "stage_registration",
    "write_tokens",
]

#: The most registrations a fuzzy comparison scores (found through shared name words).
FUZZY_CANDIDATES = 300
_LIVE = tuple(LIVE)
#: A claim as the rules see it, read as plain columns (no ORM object).
_CLAIM_COLUMNS = (
    Registration.id, Registration.partner_id, Registration.status,
    Registration.customer_name_key, Registration.customer_domain_key,
    Registration.protected_until, Registration.extensions_used, Partner.tier,
    Registration.conflict_with,
)  # fmt: skip
_NO_DEAL = (null(), null(), null())
#: An open deal with no partner on it (the partial indexes' condition, written alike).
_OPEN_DIRECT = (
    Opportunity.partner_id.is_(None),
    Opportunity.partner_ref.is_(None),
    Opportunity.is_closed.is_(False),
    Opportunity.deleted.is_(False),
)


def _claim_row(row: Sequence[Any]) -> Claim:
    (id_, partner_id, status, name, domain, until, used, tier, conflict) = row[:9]
    return Claim(id_, partner_id, RegistrationStatus(status), name, domain, until, used or 0,
                 tier or "", conflict)  # fmt: skip


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


_LOCK_CUSTOMERS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) "
    "FROM unnest(CAST(:keys AS text[])) AS k"  # in the array's (sorted) order
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
        session.execute(_LOCK_CUSTOMERS, {"keys": wanted})


def claims_on(
    session: Session, name_key: str | None, domain_key: str | None
) -> list[tuple[Registration, Claim]]:
    """The live registrations on this customer (the rules' :func:`same_customer`), with
    their partners' tiers: one query."""
    if not name_key and not domain_key:
        return []
    parts = [
        select(Registration.id).where(key, REGISTRATION_LIVE)
        for key in _claim_keys(bool(domain_key), bool(name_key))
    ]
    rows = session.execute(
        select(Registration, Partner.tier)
        .join(Partner, Partner.id == Registration.partner_id)
        .where(Registration.id.in_(parts[0] if len(parts) == 1 else union_all(*parts)))
        .order_by(Registration.id),
        {"domain": domain_key, "name": name_key},
    ).tuples()
    pairs = [(r, claim(r, tier or "")) for r, tier in rows]
    return [(r, c) for r, c in pairs if same_customer(name_key, domain_key, c)]


@cache
def _fuzzy_statement(without_domain: bool, other_partners: bool) -> Select[Any]:
    """The fuzzy candidate query of one shape, built once (parameters: ``words``,
    ``partner_id``): a check pays for binding values, not for building a statement.

    The registrations sharing a word are found first, apart (a materialized CTE on
    PostgreSQL): whatever plan the statement is prepared with starts from the words, never
    from the newest registrations by id (a plan a small table once made)."""
    shared = select(RegistrationToken.registration_id).where(
        RegistrationToken.token.in_(bindparam("words", expanding=True))
    )
    if without_domain:  # the words of claims without a domain: their partial index
        shared = shared.where(RegistrationToken.domainless)
    sharing = shared.cte("sharing").prefix_with("MATERIALIZED", dialect="postgresql")
    # States as plain text: hundreds of candidates are read, few become claims.
    columns = [type_coerce(c, String) if c is Registration.status else c for c in _CLAIM_COLUMNS]
    query = (
        select(*columns)
        .join(Partner, Partner.id == Registration.partner_id)
        .where(Registration.id.in_(select(sharing.c.registration_id)), REGISTRATION_LIVE)
        .order_by(Registration.id.desc())
        .limit(FUZZY_CANDIDATES)
    )
    if without_domain:
        query = query.where(Registration.customer_domain_key.is_(None))
    if other_partners:
        query = query.where(Registration.partner_id != bindparam("partner_id"))
    return query


def fuzzy_matches(
    session: Session,
    name_key: str | None,
    threshold: int,
    *,
    domain_key: str | None = None,
    partner_id: str | None = None,
) -> tuple[FuzzyMatch, ...]:
    """Live registrations whose name shares a word with ``name_key`` and scores at or
    above ``threshold``: at most :data:`FUZZY_CANDIDATES` scored (the newest), in one
    rapidfuzz call. Only the claims a fuzzy match can count against are read: other
    partners' (when ``partner_id`` is given), and, when the submission has a domain, those
    without one (a domain on both sides decides it)."""
    if not name_key or threshold <= 0:
        return ()
    words = list(name_tokens(name_key))
    if not words:
        return ()
    query = _fuzzy_statement(bool(domain_key), partner_id is not None)
    candidates = session.execute(query, {"words": words, "partner_id": partner_id}).all()
    # Scored on the bare name keys; only the few that match become claims.
    found = close_names(name_key, [row[3] or "" for row in candidates], threshold)
    return tuple(FuzzyMatch(_claim_row(candidates[index]), score) for index, score in found)


def _claim_keys(by_domain: bool, by_name: bool) -> list[ColumnElement[bool]]:
    """The live claims on a customer, one condition per index (parameters ``domain``,
    ``name``): by domain, and by name; by name only the claims without a domain when the
    customer has one (rules.registration.same_customer), so no claim comes twice. Apart,
    not OR'ed: for an OR of the two SQLite's planner may walk every live claim by state."""
    keys: list[ColumnElement[bool]] = []
    if by_domain:
        keys.append(Registration.customer_domain_key == bindparam("domain"))
    if by_name:
        name = Registration.customer_name_key == bindparam("name")
        if by_domain:
            name = and_(name, func.coalesce(Registration.customer_domain_key, "") == "")
        keys.append(name)
    return keys


@cache
def _situation_statement(by_domain: bool, by_name: bool, split: bool) -> CompoundSelect[Any]:
    """Blocked accounts, live claims and open direct deals on a customer, and the
    submitting partner's tier and state, as one statement of one shape (parameters:
    ``domain``, ``name``, ``partner_id``), built once."""
    block_keys, deal_keys = [], []
    if by_domain:
        block_keys.append(BlockedAccount.domain == bindparam("domain"))
        deal_keys.append(Opportunity.customer_domain_key == bindparam("domain"))
    if by_name:
        block_keys.append(BlockedAccount.name_key == bindparam("name"))
        deal_keys.append(Opportunity.customer_name_key == bindparam("name"))
    # The first part types the union's columns: states as plain text (a block's kind
    # shares the column), turned into enums by the reader.
    columns = [type_coerce(c, String) if c is Registration.status else c for c in _CLAIM_COLUMNS]
    # Apart for SQLite (see _claim_keys); one OR for PostgreSQL, which answers it with a
    # BitmapOr of the two indexes and plans one part faster than two.
    keys = _claim_keys(by_domain, by_name)
    claims = [
        select(literal("claim").label("kind"), *columns, *_NO_DEAL)
        .join(Partner, Partner.id == Registration.partner_id)
        .where(key, REGISTRATION_LIVE)
        for key in (keys if split else [or_(*keys)])
    ]
    blocks = select(
        literal("block"), null(), null(), BlockedAccount.kind, BlockedAccount.name_key,
        BlockedAccount.domain, *([null()] * 4), *_NO_DEAL,
    ).where(or_(*block_keys))  # fmt: skip
    direct = (
        select(Opportunity.id, Opportunity.crm, Opportunity.crm_id, Opportunity.name,
               Opportunity.customer_name_key, Opportunity.customer_domain_key)
        .where(or_(*deal_keys), *_OPEN_DIRECT)
        .order_by(Opportunity.id)
        .limit(20)
        .subquery()
    )  # fmt: skip
    deals = select(
        literal("direct"), direct.c.id, null(), null(), direct.c.customer_name_key,
        direct.c.customer_domain_key, *([null()] * 4), direct.c.crm, direct.c.crm_id,
        direct.c.name,
    )  # fmt: skip
    active = case((Partner.active.is_(True), "active"), else_="inactive")
    partner = select(
        literal("partner"), null(), Partner.id, active, *([null()] * 4), Partner.tier, null(),
        *_NO_DEAL,
    ).where(Partner.id == bindparam("partner_id"))  # fmt: skip
    return union_all(*claims, blocks, deals, partner)


@dataclass(frozen=True)
class PartnerFacts:
    id: str
    tier: str
    active: bool


def situation_and_partner(
    session: Session,
    name_key: str | None,
    domain_key: str | None,
    *,
    partner_id: str,
    fuzzy_threshold: int,
) -> tuple[Situation, PartnerFacts | None]:
    """Everything a submission is decided on: blocked accounts, live claims on the
    customer, open direct deals on it and the partner's tier and state (``None`` for a
    partner the store does not hold) in one statement (one round trip, one plan), then
    the fuzzy candidates."""
    if not name_key and not domain_key:
        partner = session.get(Partner, partner_id)
        return Situation(), (
            PartnerFacts(partner.id, partner.tier, partner.active) if partner else None
        )
    split = session.get_bind().dialect.name == "sqlite"
    statement = _situation_statement(bool(domain_key), bool(name_key), split)
    blocked: list[Block] = []
    claims: list[Claim] = []
    deals: list[DirectDeal] = []
    partner_found: PartnerFacts | None = None
    values = {"domain": domain_key, "name": name_key, "partner_id": partner_id}
    for kind, *row in session.execute(statement, values):
        if kind == "partner":
            partner_found = PartnerFacts(str(row[1]), str(row[7]), row[2] == "active")
        elif kind == "claim":
            found = _claim_row(row)
            if same_customer(name_key, domain_key, found):
                claims.append(found)
        elif kind == "block":
            blocked.append(Block(BlockKind(row[2]), row[4], row[3]))
        else:
            probe = Claim(0, "", RegistrationStatus.PENDING, row[3], row[4])
            if same_customer(name_key, domain_key, probe):
                deals.append(DirectDeal(str(row[9]), row[10], row[11]))
    claims.sort(key=lambda c: c.id)
    return Situation(
        blocks=tuple(blocked),
        claims=tuple(claims),
        direct_deals=tuple(deals[:5]),
        fuzzy=fuzzy_matches(session, name_key, fuzzy_threshold, domain_key=domain_key,
                            partner_id=partner_id),
    ), partner_found  # fmt: skip


def write_tokens(session: Session, registrations: Sequence[Registration]) -> None:
    """The name words of new live registrations, for later fuzzy look-ups."""
    rows = [
        {"token": token[:64], "registration_id": r.id, "domainless": not r.customer_domain_key}
        for r in registrations
        if r.status in LIVE
        for token in name_tokens(r.customer_name_key)
    ]
    if rows:
        insert(session, cast(Table, RegistrationToken.__table__), rows)


def drop_tokens(session: Session, registration_ids: Collection[int]) -> None:
    """Ended registrations leave the fuzzy index: it holds live claims only, so a look-up
    reads no ended one (most of a mature store)."""
    wanted = sorted(registration_ids)
    for start in range(0, len(wanted), 1000):
        session.execute(
            delete(RegistrationToken).where(
                RegistrationToken.registration_id.in_(wanted[start : start + 1000])
            )
        )


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


def _assign(
    registration: Registration,
    change: Change,
    *,
    actor: str,
    now: datetime,
    note: str | None,
    decided: bool,
) -> None:
    """Set the fields of one change the rules decided on ``registration``."""
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


def _audited(
    registration_id: int,
    change: Change,
    actor: str,
    note: str | None,
    matched: Sequence[str],
) -> AuditRow:
    audit = change.audit
    after = {**audit.after, "matched": list(matched)} if matched else dict(audit.after)
    reason = audit.reason if note is None else f"{audit.reason} ({note})"
    return AuditRow(AuditEntity.REGISTRATION, registration_id, audit.action, dict(audit.before),
                    after, reason, actor)  # fmt: skip


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
    _assign(registration, change, actor=actor, now=now, note=note, decided=decided)
    session.flush()
    record_many(session, [_audited(registration.id, change, actor, note, matched)], at=now)
    if change.status not in LIVE:
        drop_tokens(session, [registration.id])
    stage_registration(session, registration)


def insert_submitted(
    session: Session,
    registration: Registration,
    change: Change,
    *,
    actor: str,
    now: datetime,
    matched: Sequence[str] = (),
) -> None:
    """Write a new registration as the rules decided it at once (the object stays out of
    the session; it gets its id): the row, its name words when live, its audit row, and
    what its linked deal's CRM fields must show. Statements of the table, not the ORM's
    unit of work: a submission is the API's busiest write."""
    _assign(registration, change, actor=actor, now=now, note=None,
            decided=change.status is not RegistrationStatus.PENDING)  # fmt: skip
    registration.updated_at = now
    table = cast(Table, Registration.__table__)
    given = {k: v for k, v in vars(registration).items() if k in table.c and k != "id"}
    [(registration.id,)] = insert_absent_returning(session, table, [given], (), ("id",))
    write_tokens(session, [registration])
    record_many(session, [_audited(registration.id, change, actor, None, matched)], at=now)
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
