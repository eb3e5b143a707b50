"""Deals created in the CRM for approved registrations (``[program] create_deals_on_approval``).

A partner registers a customer the CRM has no deal for yet; once the registration is
approved, partnersync creates the deal, so the rep finds it in the CRM like any other:

1. **Queued** in the very transaction that approves the registration (:func:`queue_create`):
   a :class:`~sync.store.DealCreate` row naming the CRM and a fresh *key*. Nothing is
   queued when the registration already has a deal, or the program does not create deals.
2. **Sent** by the push (:mod:`sync.writeback.creates`) as upserts keyed on the mapping's
   ``[create] external_id`` field: the fields of ``[create.fields]`` and every
   ``[outbound]`` field, so the new deal shows its registration from the start. A push
   killed after the CRM took the batch and before the store recorded it sends the same
   keys again; the CRM finds the deals it made and creates nothing twice.
3. **Linked** when the mirror reads the deal back: its external-id field holds the key
   (``Opportunity.registration_key``), which names the registration (:func:`created_for`).

Which CRM: ``[program] create_deals_in``, else the CRM the partner has an account (or
company) in, Salesforce when it has both. A partner with neither gets no deal, and the
registration's audit trail says why.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sync.audit import record
from sync.settings import ProgramSettings
from sync.store import (
    OPEN_CREATE_STATUSES,
    AuditEntity,
    Crm,
    DealCreate,
    DealCreateStatus,
    Partner,
    Registration,
    RegistrationStatus,
)

__all__ = ["create_crm", "created_for", "mark_found", "new_key", "queue_create"]


def new_key(registration_id: int) -> str:
    """A key no other store writes: the registration's id and 64 random bits."""
    return f"ps-{registration_id}-{secrets.token_hex(8)}"


def create_crm(partner: Partner, program: ProgramSettings) -> Crm | None:
    """The CRM a deal for ``partner``'s registration is created in, if any."""
    if program.create_deals_in:
        return Crm(program.create_deals_in)
    if partner.salesforce_account_id:
        return Crm.SALESFORCE
    if partner.hubspot_company_id:
        return Crm.HUBSPOT
    return None


def queue_create(
    session: Session,
    registration: Registration,
    program: ProgramSettings,
    *,
    actor: str,
    now: datetime,
) -> DealCreate | None:
    """Queue a deal for ``registration`` if it is approved, has no deal and never had one
    queued, and the program creates deals; audited either way it goes."""
    if (
        not program.create_deals_on_approval
        or registration.status is not RegistrationStatus.APPROVED
        or registration.opportunity_id is not None
    ):
        return None
    known = session.scalar(
        select(DealCreate.id).where(DealCreate.registration_id == registration.id)
    )
    if known is not None:
        return None
    partner = session.get(Partner, registration.partner_id)
    crm = create_crm(partner, program) if partner is not None else None
    if crm is None:
        record(session, AuditEntity.REGISTRATION, registration.id, "deal_not_created", None,
               {"partner_id": registration.partner_id},
               "no CRM to create the deal in: the partner has no Salesforce account or "
               "HubSpot company; set [program] create_deals_in", actor, at=now)  # fmt: skip
        return None
    create = DealCreate(
        registration_id=registration.id, crm=crm, key=new_key(registration.id),
        status=DealCreateStatus.PENDING, attempts=0, created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(create)
    session.flush()
    record(session, AuditEntity.REGISTRATION, registration.id, "deal_create_queued", None,
           {"crm": crm.value, "key": create.key},
           f"approved with no deal: a {crm.value} deal will be created by the next push",
           actor, at=now)  # fmt: skip
    return create


def created_for(session: Session, crm: Crm, keys: Collection[str]) -> Mapping[str, int]:
    """Key -> registration id, for the keys of deals ``crm`` holds that partnersync made."""
    wanted = [k for k in keys if k]
    out: dict[str, int] = {}
    for start in range(0, len(wanted), 1000):
        rows = session.execute(
            select(DealCreate.key, DealCreate.registration_id).where(
                DealCreate.crm == crm, DealCreate.key.in_(wanted[start : start + 1000])
            )
        )
        out.update(rows.tuples().all())
    return out


def mark_found(session: Session, crm: Crm, found: Mapping[str, str], now: datetime) -> None:
    """The mirror read these created deals (key -> CRM id) before the push recorded them
    (it was stopped between sending and recording): they are created."""
    if not found:
        return
    for key, crm_id in found.items():
        session.execute(
            update(DealCreate)
            .where(
                DealCreate.crm == crm,
                DealCreate.key == key,
                DealCreate.status.in_(OPEN_CREATE_STATUSES),
            )
            .values(status=DealCreateStatus.CREATED, crm_id=crm_id, updated_at=now)
        )


def open_creates(session: Session, registration_ids: Collection[int]) -> Mapping[int, DealCreate]:
    """The deal creates of these registrations, by registration id."""
    if not registration_ids:
        return {}
    rows = session.scalars(
        select(DealCreate).where(DealCreate.registration_id.in_(list(registration_ids)))
    )
    return {row.registration_id: row for row in rows}
