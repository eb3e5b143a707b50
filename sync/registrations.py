"""The registration service: submit, decide, expire, list and explain registrations.

The rules (``rules.registration``) decide; this module looks up the facts with indexed
queries (``sync.registration_facts``) and writes what was decided: the registration's
state, one audit row per change and the linked deal's CRM fields (outbox), all in one
transaction. Decisions on a customer are serialised (PostgreSQL advisory locks on its
keys; SQLite's single writer), and the database itself refuses a second approved
registration per customer key, so two people acting at the same moment leave exactly
one holder.

A registration is linked to the partner's mirrored deal on the same customer when there
is one (at submission, or later by the mirror: ``sync.deal_links``); the deal's CRM
fields then show the registration. With ``[program] create_deals_on_approval``, an
approved registration with no deal gets one created in the CRM (``sync.deal_creates``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, bindparam, exists, func, select
from sqlalchemy.orm import Session, sessionmaker

from rules.matching import domain_key, name_key
from rules.registration import (
    LIVE,
    Decision,
    RegistrationError,
    Situation,
    Submission,
    approve,
    close,
    decide_submission,
    expire,
    extend,
    reject,
    withdraw,
)
from rules.registration import IllegalTransition as _Illegal
from sync.deal_creates import queue_create
from sync.program import (
    Conflict,
    NotFound,
    ProgramError,
    checked_amount,
    checked_currency,
    checked_date,
    checked_id,
    checked_text,
    policy,
)
from sync.registration_facts import (
    apply_change,
    claim,
    claims_on,
    customer_key,
    insert_submitted,
    lock_customers,
    situation_and_partner,
    view,
)
from sync.settings import ProgramSettings
from sync.store import (
    AuditEntity,
    AuditEntry,
    DealCreate,
    Opportunity,
    Partner,
    Registration,
    RegistrationSource,
    RegistrationStatus,
    prepared,
    reading,
    transaction,
)

__all__ = ["RegistrationService"]

_LIVE = tuple(LIVE)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RegistrationService:
    """Registrations on the store of ``factory`` under the ``[program]`` settings;
    ``clock`` gives the instant of each action (its UTC date is "today" for the rules)."""

    factory: sessionmaker[Session]
    program: ProgramSettings
    clock: Callable[[], datetime] = field(default=_now)

    # --- submitting ----------------------------------------------------------------------

    def submit(
        self,
        *,
        partner_id: str,
        customer_name: str,
        customer_domain: str | None = None,
        amount: str | Decimal | int | None = None,
        currency: str | None = None,
        practice: str | None = None,
        close_date: str | date | None = None,
        source: RegistrationSource = RegistrationSource.CLI,
        actor: str,
    ) -> dict[str, Any]:
        """Register a customer for a partner; the view says the outcome and its reason."""
        registration = _submitted(partner_id, customer_name, customer_domain, amount,
                                  currency, practice, close_date, source)  # fmt: skip
        now = self.clock()
        registration.submitted_at = now
        names, domains = registration.customer_name_key, registration.customer_domain_key
        with transaction(self.factory) as session, prepared(session):
            lock_customers(session, [domains, f"name:{names}"])
            decision = self._decided(session, registration, now.date())
            registration.opportunity_id = self._deal_for(session, registration)
            insert_submitted(session, registration, decision.main, actor=actor, now=now,
                             matched=decision.matched)  # fmt: skip
            queue_create(session, registration, self.program, actor=actor, now=now)
            return view(registration)

    def check(
        self,
        *,
        partner_id: str,
        customer_name: str,
        customer_domain: str | None = None,
        amount: str | Decimal | int | None = None,
        currency: str | None = None,
        practice: str | None = None,
    ) -> dict[str, Any]:
        """What a submission would give now, written nowhere: status, reason, the claim
        it collides with, and what matched (``submit --dry-run``)."""
        registration = _submitted(partner_id, customer_name, customer_domain, amount,
                                  currency, practice, None, RegistrationSource.CLI)  # fmt: skip
        with reading(self.factory) as session:
            decision = self._decided(session, registration, self.clock().date())
            main = decision.main
            return {
                "partner_id": registration.partner_id,
                "customer_name_key": registration.customer_name_key,
                "customer_domain_key": registration.customer_domain_key,
                "status": main.status.value,
                "reason": main.reason.value if main.reason else None,
                "conflict_with": main.conflict_with,
                "protected_until": main.protected_until,
                "matched": list(decision.matched),
            }

    def _decided(self, session: Session, registration: Registration, today: date) -> Decision:
        """The rules' decision on a submission from the facts on its customer and its
        partner's tier and state, read together (the partner must exist)."""
        facts, partner = situation_and_partner(
            session, registration.customer_name_key, registration.customer_domain_key,
            partner_id=registration.partner_id, fuzzy_threshold=self.program.fuzzy_threshold,
        )  # fmt: skip
        if partner is None:
            raise NotFound(f"no partner {registration.partner_id!r}", field="partner_id")
        return self._decision(partner.id, partner.tier, partner.active, registration, facts,
                              today)  # fmt: skip

    def _decision(
        self, partner_id: str, tier: str, active: bool, registration: Registration,
        facts: Situation, today: date,
    ) -> Decision:  # fmt: skip
        names, domains = registration.customer_name_key, registration.customer_domain_key
        submission = Submission(
            partner_id=partner_id, tier=tier, name_key=names, domain_key=domains,
            partner_active=active, amount=registration.amount,
            currency=registration.currency, practice=registration.practice,
        )  # fmt: skip
        try:
            return decide_submission(submission, facts, policy(self.program), today)
        except RegistrationError as exc:
            raise ProgramError(str(exc)) from None

    def _deal_for(self, session: Session, registration: Registration) -> int | None:
        """The partner's mirrored deal on this customer that no live registration holds
        yet (open ones first, newest first)."""
        by_domain = bool(registration.customer_domain_key)
        key = registration.customer_domain_key if by_domain else registration.customer_name_key
        return session.scalar(
            _deal_for_statement(by_domain),
            {"partner_id": registration.partner_id, "key": key, "id": registration.id},
        )

    # --- decisions ----------------------------------------------------------------------

    def _load(self, session: Session, registration_id: int) -> Registration:
        registration = session.get(Registration, registration_id)
        if registration is None:
            raise NotFound(f"no registration {registration_id}", field="id")
        return registration

    def _act(
        self,
        registration_id: int,
        act: Callable[[Session, Registration], Decision | None],
        *,
        actor: str,
        note: str | None = None,
    ) -> dict[str, Any]:
        now = self.clock()
        with transaction(self.factory) as session:
            first = self._load(session, registration_id)
            lock_customers(session, [first.customer_domain_key, f"name:{first.customer_name_key}"])
            session.refresh(first)  # the state after the lock, not before it
            try:
                decision = act(session, first)
            except _Illegal as exc:
                raise Conflict(str(exc), code="illegal_transition") from None
            except RegistrationError as exc:
                raise Conflict(str(exc)) from None
            if decision is not None:
                # Rivals first: the database allows one approved registration per customer.
                for change in (*decision.changes[1:], decision.changes[0]):
                    target = self._load(session, change.claim_id)
                    apply_change(session, target, change, actor=actor, now=now,
                                 note=note if target.id == first.id else None)  # fmt: skip
                queue_create(session, first, self.program, actor=actor, now=now)
            return view(first)

    def _tiered(self, session: Session, registration: Registration) -> Any:
        tier = session.scalar(select(Partner.tier).where(Partner.id == registration.partner_id))
        return claim(registration, tier or "")

    def approve(
        self, registration_id: int, *, actor: str, note: str | None = None
    ) -> dict[str, Any]:
        """Approve: first approved wins; the other live claims on the customer turn
        ``conflict``; refused (naming the holder) while another partner holds it."""
        note = checked_text(note, "reason", max_length=2000, required=False)

        def act(session: Session, registration: Registration) -> Decision:
            rivals = [c for r, c in claims_on(
                session, registration.customer_name_key, registration.customer_domain_key
            ) if r.id != registration.id]  # fmt: skip
            today = self.clock().date()
            return approve(self._tiered(session, registration), rivals, policy(self.program), today)

        return self._act(registration_id, act, actor=actor, note=note)

    def reject(
        self, registration_id: int, *, actor: str, note: str | None = None
    ) -> dict[str, Any]:
        """Reject (``note`` says why); the customer is free."""
        note = checked_text(note, "reason", max_length=2000, required=False)
        return self._act(
            registration_id, lambda s, r: reject(claim(r), note or ""), actor=actor, note=note
        )

    def withdraw(
        self, registration_id: int, *, actor: str, note: str | None = None
    ) -> dict[str, Any]:
        """The partner withdraws its registration; the customer is free."""
        note = checked_text(note, "reason", max_length=2000, required=False)
        return self._act(
            registration_id, lambda s, r: withdraw(claim(r), note or ""), actor=actor, note=note
        )

    def extend(
        self, registration_id: int, *, actor: str, days: int | None = None, note: str | None = None
    ) -> dict[str, Any]:
        """Extend an approved registration's protection (bounded by the program)."""
        note = checked_text(note, "reason", max_length=2000, required=False)
        return self._act(
            registration_id,
            lambda s, r: extend(claim(r), policy(self.program), self.clock().date(), days),
            actor=actor,
            note=note,
        )

    def expire_due(
        self, *, as_of: date | None = None, dry_run: bool = False, actor: str = "expire-due"
    ) -> list[dict[str, Any]]:
        """Approved registrations whose last protected day is before ``as_of`` (default:
        today) end ``expired``, or ``won`` / ``lost`` when their linked deal closed first.
        With ``dry_run`` nothing is written; the list says what would change."""
        today = as_of or self.clock().date()
        now = self.clock()
        out = []
        with transaction(self.factory) as session:
            due = session.scalars(
                select(Registration)
                .where(
                    Registration.status == RegistrationStatus.APPROVED,
                    Registration.protected_until < today,
                )
                .order_by(Registration.protected_until, Registration.id)
                .with_for_update()
            ).all()
            closed = self._closed_deals(session, due)
            for registration in due:
                state = closed.get(registration.opportunity_id or 0)
                decision = (
                    close(claim(registration), won=state) if state is not None
                    else expire(claim(registration), today)
                )  # fmt: skip
                if decision is None:
                    continue
                reason = decision.main.reason.value if decision.main.reason else None
                row = {**view(registration), "becomes": decision.main.status.value,
                       "reason": reason}  # fmt: skip
                if not dry_run:
                    apply_change(session, registration, decision.main, actor=actor, now=now)
                out.append(row)
            if dry_run:
                session.rollback()
        return out

    @staticmethod
    def _closed_deals(session: Session, due: Sequence[Registration]) -> dict[int, bool]:
        """Opportunity id -> won, for the linked deals of ``due`` that are closed."""
        ids = [r.opportunity_id for r in due if r.opportunity_id]
        if not ids:
            return {}
        rows = session.execute(
            select(Opportunity.id, Opportunity.is_won).where(
                Opportunity.id.in_(ids), Opportunity.is_closed.is_(True)
            )
        )
        return dict(rows.tuples().all())

    # --- reading ------------------------------------------------------------------------

    def list(
        self,
        *,
        partner_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        after_id: int = 0,
    ) -> list[dict[str, Any]]:
        """Registrations, oldest first from ``after_id`` (a cursor), filtered."""
        query = select(Registration).where(Registration.id > after_id)
        if partner_id is not None:
            query = query.where(Registration.partner_id == partner_id)
        if status is not None:
            try:
                query = query.where(Registration.status == RegistrationStatus(status))
            except ValueError:
                allowed = ", ".join(s.value for s in RegistrationStatus)
                raise ProgramError(
                    f"status: one of {allowed} (got {status!r})", field="status"
                ) from None
        with self.factory() as session:
            rows = session.scalars(query.order_by(Registration.id).limit(limit))
            return [view(r) for r in rows]

    def get(self, registration_id: int) -> dict[str, Any]:
        with self.factory() as session:
            return view(self._load(session, registration_id))

    def show(self, registration_id: int) -> dict[str, Any]:
        """The registration explained: its customer keys, what matched when it was
        submitted, the live claims on its customer now, the linked deal, the deal created
        for it (if any), the audit trail."""
        with self.factory() as session:
            registration = self._load(session, registration_id)
            trail = session.scalars(
                select(AuditEntry)
                .where(
                    AuditEntry.entity_kind == AuditEntity.REGISTRATION,
                    AuditEntry.entity_id == str(registration.id),
                )
                .order_by(AuditEntry.id)
            ).all()
            matched: list[str] = []
            for entry in trail:
                matched.extend((entry.after or {}).get("matched") or [])
            others = [
                view(r) for r, _ in claims_on(
                    session, registration.customer_name_key, registration.customer_domain_key
                ) if r.id != registration.id
            ]  # fmt: skip
            deal = (
                session.get(Opportunity, registration.opportunity_id)
                if registration.opportunity_id else None
            )  # fmt: skip
            create = session.scalar(
                select(DealCreate).where(DealCreate.registration_id == registration.id)
            )
            return {
                **view(registration),
                "customer_name_key": registration.customer_name_key,
                "customer_domain_key": registration.customer_domain_key,
                "matched": matched,
                "live_on_customer": [
                    {k: o[k] for k in ("id", "partner_id", "status", "protected_until")}
                    for o in others
                ],
                "deal": None if deal is None else {
                    "crm": deal.crm.value, "crm_id": deal.crm_id, "name": deal.name,
                    "stage": deal.stage, "is_closed": deal.is_closed, "is_won": deal.is_won,
                },
                "deal_create": None if create is None else {
                    "crm": create.crm.value, "status": create.status.value,
                    "crm_id": create.crm_id, "key": create.key,
                    "error": create.last_error_code and
                    f"{create.last_error_code}: {create.last_error_message}",
                },
                "audit": [
                    {"at": e.at, "actor": e.actor, "action": e.action, "before": e.before,
                     "after": e.after, "reason": e.reason}
                    for e in trail
                ],
            }  # fmt: skip


@cache
def _deal_for_statement(by_domain: bool) -> Select[tuple[int]]:
    """:meth:`RegistrationService._deal_for`'s query of one shape (parameters:
    ``partner_id``, ``key``, ``id``: the registration's own, or none), built once."""
    keyed = Opportunity.customer_domain_key if by_domain else Opportunity.customer_name_key
    taken = exists().where(
        Registration.opportunity_id == Opportunity.id,
        Registration.status.in_(_LIVE),
        Registration.id != func.coalesce(bindparam("id", type_=Integer), 0),
    )
    return (
        select(Opportunity.id)
        .where(
            Opportunity.partner_id == bindparam("partner_id"),
            keyed == bindparam("key"),
            Opportunity.deleted.is_(False),
            ~taken,
        )
        .order_by(Opportunity.is_closed, Opportunity.id.desc())
        .limit(1)
    )


def _submitted(
    partner_id: str,
    customer_name: str,
    customer_domain: str | None,
    amount: str | Decimal | int | None,
    currency: str | None,
    practice: str | None,
    close_date: str | date | None,
    source: RegistrationSource,
) -> Registration:
    """A new registration from checked input (not in any session yet)."""
    name = checked_text(customer_name, "customer_name")
    domain = checked_text(customer_domain, "customer_domain", required=False)
    money = checked_amount(amount)
    code = checked_currency(currency)
    if money is not None and code is None:
        raise ProgramError("currency: required with an amount", field="currency")
    keys = (name_key(name), domain_key(domain))
    if keys[0] is None:
        raise ProgramError(
            f"customer_name: {name!r} leaves no name to match customers on",
            field="customer_name",
        )
    return Registration(
        partner_id=checked_id(partner_id, "partner_id"), customer_name=name,
        customer_domain=domain, customer_name_key=keys[0], customer_domain_key=keys[1],
        customer_key=customer_key(*keys), amount=money, currency=code,
        practice=checked_text(practice, "practice", max_length=100, required=False),
        close_date=checked_date(close_date, "close_date"), source=source,
        status=RegistrationStatus.PENDING, extensions_used=0,
    )  # fmt: skip
