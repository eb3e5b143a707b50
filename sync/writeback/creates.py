"""The push's creates: deals for approved registrations, as upserts on a key.

Queued creates (``sync.deal_creates``) of the connector's CRM that are due are sent in
batches of the API maximum as upserts keyed on the mapping's ``[create] external_id``:
the ``[create.fields]`` values of the registration, every ``[outbound]`` field (the deal
shows its registration from the start) and the key. Each ends ``created`` (with the new
deal's id), ``retry`` (with backoff), ``rejected`` (the CRM's code and message, in the
registration's audit trail too) or ``cancelled`` (the registration ended, or got a deal
of its own, before the create was sent).

A crash between sending and recording leaves the rows open; they are sent again with the
same keys, and the CRM answers with the deals it already made (``created: false``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import CrmConnector, RecordUpsert, WriteOutcome, WriteResult
from sync.audit import record
from sync.log import get_logger
from sync.mapping import CompiledMapping, crm_targets
from sync.registration_facts import registration_fields
from sync.store import (
    OPEN_CREATE_STATUSES,
    AuditEntity,
    Crm,
    DealCreate,
    DealCreateStatus,
    Opportunity,
    Partner,
    Registration,
    RegistrationStatus,
    transaction,
)
from sync.writeback.sending import backoff, guarded

__all__ = ["CreateReport", "create_values", "push_creates"]

log = get_logger("sync.writeback.creates")

ROUND_ROWS = 1_000


@dataclass
class CreateReport:
    """What one push did with the queued deal creates of one CRM. ``found``: the CRM
    already held the deal of a key (a create sent before a crash); ``waiting``: creates
    queued for this CRM while its mapping has no ``[create]`` section."""

    created: int = 0
    found: int = 0
    retry: int = 0
    rejected: int = 0
    cancelled: int = 0
    waiting: int = 0


def create_values(
    mapping: CompiledMapping, crm: Crm, registration: Registration, partner: Partner
) -> dict[str, Any]:
    """CRM field -> value of the deal created for ``registration``: ``[create.fields]``
    and every ``[outbound]`` field (not the key, which the upsert adds)."""
    create = mapping.create
    assert create is not None
    account = partner.salesforce_account_id if crm is Crm.SALESFORCE else partner.hubspot_company_id
    sources = {
        "registration.customer_name": registration.customer_name,
        "registration.customer_domain": registration.customer_domain,
        "registration.amount": registration.amount,
        "registration.currency": registration.currency,
        "registration.close_date": registration.close_date or registration.protected_until,
        "registration.practice": registration.practice,
        "registration.partner_id": registration.partner_id,
        "registration.partner_account": account or registration.partner_id,
        "registration.id": str(registration.id),
        "registration.protected_until": registration.protected_until,
    }
    values = create.values(sources)
    shown = crm_targets(mapping, registration_fields(registration))
    values.update((name, target.value) for name, target in shown.items())
    return {name: value for name, value in values.items() if value is not None}


def _due(
    session: Session, crm: Crm, now: datetime, after_id: int, limit: int
) -> list[tuple[DealCreate, Registration, Partner, str | None]]:
    """Open creates of ``crm`` due at ``now``, with their registration, partner and the
    registration key of the deal the registration is linked to now, if any."""
    rows = session.execute(
        select(DealCreate, Registration, Partner, Opportunity.registration_key)
        .join(Registration, Registration.id == DealCreate.registration_id)
        .join(Partner, Partner.id == Registration.partner_id)
        .outerjoin(Opportunity, Opportunity.id == Registration.opportunity_id)
        .where(
            DealCreate.crm == crm,
            DealCreate.status.in_(OPEN_CREATE_STATUSES),
            DealCreate.id > after_id,
            or_(DealCreate.next_attempt_at.is_(None), DealCreate.next_attempt_at <= now),
        )
        .order_by(DealCreate.id)
        .limit(limit)
    )
    return list(rows.tuples())


def push_creates(
    factory: sessionmaker[Session],
    connector: CrmConnector,
    mapping: CompiledMapping,
    *,
    clock: Callable[[], datetime],
    round_rows: int = ROUND_ROWS,
) -> CreateReport:
    """Send the due creates of ``connector``'s CRM and record each one's outcome.

    Raises what stops a push (configuration, authentication, the daily API allocation)
    after recording nothing of the round it happened in: those rows stay open.
    """
    crm = Crm(connector.crm)
    report = CreateReport()
    if mapping.create is None:
        with factory() as session:
            report.waiting = (
                session.scalar(
                    select(func.count()).where(
                        DealCreate.crm == crm, DealCreate.status.in_(OPEN_CREATE_STATUSES)
                    )
                )
                or 0
            )
        if report.waiting:
            log.warning("push.creates_waiting", crm=crm.value, waiting=report.waiting,
                        hint=f"add a [create] section to {mapping.source}")  # fmt: skip
        return report
    key_field = mapping.create.external_id
    last_id = 0
    while True:
        now = clock()
        with factory() as session:
            due = _due(session, crm, now, last_id, round_rows)
            to_send: list[tuple[int, RecordUpsert]] = []
            settled: dict[int, tuple[DealCreateStatus, str]] = {}
            for create, registration, partner, linked_key in due:
                if registration.opportunity_id is not None:
                    if linked_key == create.key:  # the mirror read the deal already
                        settled[create.id] = (DealCreateStatus.CREATED, "")
                    else:
                        settled[create.id] = (DealCreateStatus.CANCELLED, "the registration "
                                              "is linked to a deal of its own")  # fmt: skip
                elif registration.status is not RegistrationStatus.APPROVED:
                    settled[create.id] = (
                        DealCreateStatus.CANCELLED,
                        f"the registration is {registration.status.value}",
                    )
                else:
                    values = create_values(mapping, crm, registration, partner)
                    to_send.append((create.id, RecordUpsert(create.key, values)))
        if not due:
            return report
        last_id = due[-1][0].id
        upserts = [u for _, u in to_send]
        size = connector.write_batch_size
        results: list[WriteResult] = []
        for start in range(0, len(upserts), size):
            chunk = upserts[start : start + size]

            def send(chunk: Sequence[RecordUpsert] = chunk) -> list[WriteResult]:
                return connector.upsert(chunk, key_field)

            results.extend(guarded(send, [""] * len(chunk)))
        outcomes = {create_id: result for (create_id, _), result in zip(to_send, results,
                                                                        strict=True)}  # fmt: skip
        with transaction(factory) as session:
            _record(session, crm, outcomes, settled, now, report)


def _record(
    session: Session,
    crm: Crm,
    outcomes: Mapping[int, WriteResult],
    settled: Mapping[int, tuple[DealCreateStatus, str]],
    now: datetime,
    report: CreateReport,
) -> None:
    ids = [*outcomes, *settled]
    creates = {c.id: c for c in session.scalars(
        select(DealCreate).where(DealCreate.id.in_(ids)).with_for_update()
    )}  # fmt: skip
    actor = f"push:{crm.value}"
    for create_id, (status, why) in settled.items():
        create = creates[create_id]
        if create.status not in OPEN_CREATE_STATUSES:
            continue
        create.status = status
        if status is DealCreateStatus.CANCELLED:
            report.cancelled += 1
            record(session, AuditEntity.REGISTRATION, create.registration_id,
                   "deal_create_cancelled", {"crm": crm.value, "key": create.key}, None,
                   f"no deal created: {why}", actor, at=now)  # fmt: skip
    for create_id, result in outcomes.items():
        create = creates[create_id]
        if create.status not in OPEN_CREATE_STATUSES:
            continue  # the mirror settled it meanwhile
        if result.outcome is WriteOutcome.OK:
            create.status = DealCreateStatus.CREATED
            create.crm_id = result.id
            create.last_error_code = create.last_error_message = None
            if result.created:
                report.created += 1
            else:
                report.found += 1
            record(session, AuditEntity.REGISTRATION, create.registration_id, "deal_created",
                   None, {"crm": crm.value, "crm_id": result.id, "key": create.key},
                   f"{crm.value} deal {result.id} created for the approved registration"
                   if result.created else
                   f"{crm.value} deal {result.id} made by an earlier push that was stopped "
                   "before recording it", actor, at=now)  # fmt: skip
        elif result.outcome is WriteOutcome.RETRY:
            create.status = DealCreateStatus.RETRY
            create.attempts += 1
            create.next_attempt_at = now + backoff(create.attempts)
            create.last_error_code = result.code
            create.last_error_message = (result.message or "")[:2000]
            report.retry += 1
        else:
            create.status = DealCreateStatus.REJECTED
            create.attempts += 1
            create.last_error_code = result.code
            create.last_error_message = (result.message or "")[:2000]
            report.rejected += 1
            record(session, AuditEntity.REGISTRATION, create.registration_id,
                   "deal_create_rejected", None,
                   {"crm": crm.value, "key": create.key, "code": result.code,
                    "fields": list(result.fields)},
                   result.message, actor, at=now)  # fmt: skip


def create_status(
    factory: sessionmaker[Session], crms: Sequence[Crm], *, limit: int = 50
) -> list[dict[str, Any]]:
    """The deal creates not done yet (pending, retrying, rejected), newest first."""
    with factory() as session:
        rows = session.scalars(
            select(DealCreate)
            .where(
                DealCreate.crm.in_(list(crms)),
                DealCreate.status.in_((*OPEN_CREATE_STATUSES, DealCreateStatus.REJECTED)),
            )
            .order_by(DealCreate.id.desc())
            .limit(limit)
        )
        return [
            {"crm": row.crm.value, "registration_id": row.registration_id,
             "status": row.status.value, "attempts": row.attempts,
             "next_attempt_at": row.next_attempt_at, "code": row.last_error_code,
             "message": row.last_error_message}
            for row in rows
        ]  # fmt: skip
