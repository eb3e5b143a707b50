"""The deal inspector: what partnersync knows of a mirrored deal, and why its CRM fields
show what they show, without SQL.

``list_deals`` finds deals by CRM, partner, registration state or customer (by its name
or domain keys, through their indexes); ``show_deal`` gathers one deal's mirrored values,
customer keys, its registration (and the other live ones on its customer), what waits for
the CRM in the outbox and how the last push went, its quarantine entry, its audit trail,
and its commission (``commissions explain``: the rule, the computation, the ledger rows
and payouts).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from rules.matching import domain_key, name_key
from sync.commissions import explanation
from sync.program import NotFound, ProgramError
from sync.registration_facts import claims_on, view
from sync.store import (
    AuditEntity,
    AuditEntry,
    Crm,
    Opportunity,
    OutboxEntry,
    QuarantinedRecord,
    Registration,
    RegistrationStatus,
)

__all__ = ["list_deals", "show_deal"]

_SHOWN = (
    "crm", "crm_id", "name", "account_name", "account_domain", "amount", "currency", "stage",
    "is_closed", "is_won", "close_date", "practice", "direction", "partner_ref", "partner_id",
    "paid_amount", "paid_date", "cost", "deleted", "crm_modified_at",
)  # fmt: skip


def _crm(value: str | None) -> Crm | None:
    if value is None or value == "all":
        return None
    try:
        return Crm(value)
    except ValueError:
        allowed = ", ".join(c.value for c in Crm)
        raise ProgramError(f"crm: one of {allowed} (got {value!r})", field="crm") from None


def _latest_registrations(session: Session, ids: list[int]) -> dict[int, Registration]:
    """The registration each deal shows: its newest live one, else its newest."""
    found: dict[int, Registration] = {}
    if not ids:
        return found
    rows = session.scalars(
        select(Registration).where(Registration.opportunity_id.in_(ids)).order_by(Registration.id)
    )
    for registration in rows:
        key = registration.opportunity_id or 0
        held = found.get(key)
        if held is None or registration.status in _LIVE or held.status not in _LIVE:
            found[key] = registration
    return found


_LIVE = (RegistrationStatus.PENDING, RegistrationStatus.APPROVED, RegistrationStatus.CONFLICT)


def list_deals(
    factory: sessionmaker[Session],
    *,
    crm: str | None = None,
    partner_id: str | None = None,
    status: str | None = None,
    customer: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Mirrored deals, newest first, with the registration each shows."""
    query = select(Opportunity).order_by(Opportunity.id.desc())
    the_crm = _crm(crm)
    if the_crm is not None:
        query = query.where(Opportunity.crm == the_crm)
    if partner_id is not None:
        query = query.where(Opportunity.partner_id == partner_id)
    if customer:
        keys = [Opportunity.customer_name_key == name_key(customer)]
        domain = domain_key(customer)
        if domain:
            keys.append(Opportunity.customer_domain_key == domain)
        query = query.where(or_(*keys))
    if status is not None:
        try:
            state = RegistrationStatus(status)
        except ValueError:
            allowed = ", ".join(s.value for s in RegistrationStatus)
            raise ProgramError(
                f"status: one of {allowed} (got {status!r})", field="status"
            ) from None
        shown = select(Registration.opportunity_id).where(Registration.status == state)
        query = query.where(Opportunity.id.in_(shown))
    with factory() as session:
        deals = session.scalars(query.limit(limit)).all()
        registrations = _latest_registrations(session, [d.id for d in deals])
        return [
            {
                "crm": d.crm.value, "crm_id": d.crm_id, "name": d.name,
                "customer": d.account_name, "amount": d.amount, "currency": d.currency,
                "stage": d.stage, "partner_id": d.partner_id,
                "registration": registrations[d.id].id if d.id in registrations else None,
                "status": registrations[d.id].status.value if d.id in registrations else None,
                "deleted": d.deleted,
            }
            for d in deals
        ]  # fmt: skip


def show_deal(
    factory: sessionmaker[Session], crm_id: str, *, crm: str | None = None,
    default_currency: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Everything partnersync knows of one deal (``crm`` when the id is in both CRMs),
    its commission computed and explained, with its ledger rows and payouts."""
    the_crm = _crm(crm)
    with factory() as session:
        query = select(Opportunity).where(Opportunity.crm_id == crm_id)
        if the_crm is not None:
            query = query.where(Opportunity.crm == the_crm)
        found = session.scalars(query).all()
        quarantined = session.scalars(
            select(QuarantinedRecord).where(QuarantinedRecord.crm_id == crm_id)
        ).all()
        if not found:
            if quarantined:
                entry = quarantined[0]
                return {"crm": entry.crm.value, "crm_id": crm_id, "mirrored": False,
                        "quarantine": {"reason": entry.reason, "attempts": entry.attempts,
                                       "last_seen_at": entry.last_seen_at}}  # fmt: skip
            raise NotFound(f"no deal {crm_id!r} in the mirror", field="crm_id")
        if len(found) > 1:
            raise ProgramError(f"{crm_id} is a deal in more than one CRM: say which (--crm)")
        deal = found[0]
        registrations = session.scalars(
            select(Registration)
            .where(Registration.opportunity_id == deal.id)
            .order_by(Registration.id)
        ).all()
        latest = _latest_registrations(session, [deal.id]).get(deal.id)
        on_customer = [
            {k: view(r)[k] for k in ("id", "partner_id", "status", "protected_until")}
            for r, _ in claims_on(session, deal.customer_name_key, deal.customer_domain_key)
            if latest is None or r.id != latest.id
        ]
        outbox = session.scalars(
            select(OutboxEntry)
            .where(OutboxEntry.opportunity_id == deal.id)
            .order_by(OutboxEntry.id.desc())
        ).first()
        trail = session.scalars(
            select(AuditEntry)
            .where(
                AuditEntry.entity_kind == AuditEntity.OPPORTUNITY,
                AuditEntry.entity_id == str(deal.id),
            )
            .order_by(AuditEntry.id)
        ).all()
        return {
            **{k: _plain(getattr(deal, k)) for k in _SHOWN},
            "mirrored": True,
            "customer_name_key": deal.customer_name_key,
            "customer_domain_key": deal.customer_domain_key,
            "crm_values": dict(deal.crm_values or {}),
            "registration": None if latest is None else view(latest),
            "registrations": [
                {k: view(r)[k] for k in ("id", "partner_id", "status", "reason")}
                for r in registrations
            ],
            "live_on_customer": on_customer,
            "outbox": None if outbox is None else {
                "status": outbox.status.value, "values": dict(outbox.desired),
                "attempts": outbox.attempts, "next_attempt_at": outbox.next_attempt_at,
                "last_error_code": outbox.last_error_code,
                "last_error_message": outbox.last_error_message, "updated_at": outbox.updated_at,
            },
            "quarantine": [
                {"reason": q.reason, "attempts": q.attempts, "last_seen_at": q.last_seen_at}
                for q in quarantined if q.crm == deal.crm
            ],
            "audit": [
                {"at": e.at, "actor": e.actor, "action": e.action, "reason": e.reason}
                for e in trail
            ],
            "commission": explanation(session, deal, default_currency),
        }  # fmt: skip


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Crm) else value
