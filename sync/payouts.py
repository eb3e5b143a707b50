"""Payouts: list them, and approve, schedule, pay and reverse them (store +
``rules.payouts``).

Every action takes many ids and is all or nothing, in one transaction: when any payout
is missing or in a state the action does not allow, nothing changes and the error names
each offending id and its state. Each changed payout gets an audit row, and its deal's
CRM fields (``payout.status``, ``payout.reference``, ``payout.paid_at``) are staged for
the next push. Reversing writes a ledger reversal for each entry the payout covers
(the deal's rule is then waived: never accrued again by itself).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from rules.commission import standing
from rules.payouts import IllegalPayoutTransition, PayoutAction, next_status
from sync.audit import record
from sync.ledger import MANUAL_REVERSAL, books_of, shown, stage_deals
from sync.program import Conflict, NotFound, ProgramError, checked_id, checked_text
from sync.store import (
    AuditEntity,
    LedgerEntry,
    LedgerKind,
    Opportunity,
    Payout,
    PayoutEntry,
    PayoutStatus,
    transaction,
)

__all__ = ["PayoutService", "payout_view"]

_MAX_IDS = 10_000


def payout_view(payout: Payout, deal: Opportunity | None = None) -> dict[str, Any]:
    deal = deal if deal is not None else payout.opportunity
    return {
        "id": payout.id, "partner_id": payout.partner_id,
        "deal": deal.crm_id if deal is not None else None,
        "crm": deal.crm.value if deal is not None else None,
        "amount": shown(payout.amount, payout.currency), "currency": payout.currency,
        "flow": payout.flow.value,
        "status": payout.status.value, "due_on": payout.due_on,
        "scheduled_for": payout.scheduled_for, "reference": payout.reference,
        "paid_at": payout.paid_at,
    }  # fmt: skip


def _status(value: str | None) -> PayoutStatus | None:
    if value is None:
        return None
    try:
        return PayoutStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in PayoutStatus)
        raise ProgramError(f"status: one of {known} (got {value!r})", field="status") from None


class PayoutService:
    """Payouts in the store of ``factory``."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.factory = factory
        self.clock = clock

    def list_payouts(
        self,
        *,
        partner_id: str | None = None,
        status: str | None = None,
        limit: int = 100,
        after: int = 0,
    ) -> list[dict[str, Any]]:
        """Payouts by number, after ``after`` (a cursor), at most ``limit``."""
        query = select(Payout, Opportunity).outerjoin(
            Opportunity, Opportunity.id == Payout.opportunity_id
        )
        if partner_id is not None:
            query = query.where(Payout.partner_id == checked_id(partner_id, "partner"))
        wanted = _status(status)
        if wanted is not None:
            query = query.where(Payout.status == wanted)
        query = query.where(Payout.id > after).order_by(Payout.id).limit(limit)
        with self.factory() as session:
            return [payout_view(p, d) for p, d in session.execute(query).tuples()]

    def get(self, payout_id: int) -> dict[str, Any]:
        with self.factory() as session:
            payout = session.get(Payout, payout_id)
            if payout is None:
                raise NotFound(f"no payout {payout_id}", field="id")
            view = payout_view(payout)
            view["entries"] = [
                {
                    "id": e.id,
                    "kind": e.kind.value,
                    "amount": shown(e.amount, e.currency),
                    "reason": e.reason,
                }
                for e in payout.entries
            ]
            return view

    def approve(self, ids: Sequence[int], *, actor: str) -> list[dict[str, Any]]:
        """accrued -> approved."""
        return self._act(ids, PayoutAction.APPROVE, actor=actor)

    def schedule(
        self, ids: Sequence[int], *, on: date | None = None, actor: str
    ) -> list[dict[str, Any]]:
        """approved -> scheduled, for ``on`` (default: each payout's due date, or today
        when it has none or it is past)."""
        return self._act(ids, PayoutAction.SCHEDULE, actor=actor, on=on)

    def pay(
        self, ids: Sequence[int], *, reference: str, on: date | None = None, actor: str
    ) -> list[dict[str, Any]]:
        """approved or scheduled -> paid, all against one ``reference`` (a bank batch, a
        transfer id), paid on ``on`` (default today)."""
        checked = checked_text(reference, "reference")
        return self._act(ids, PayoutAction.PAY, actor=actor, on=on, reference=checked)

    def reverse(self, ids: Sequence[int], *, reason: str, actor: str) -> list[dict[str, Any]]:
        """Any state but reversed -> reversed, with a negating ledger row for each entry
        the payout covers; a paid payout's reversal is money the partner owes back."""
        checked = checked_text(reason, "reason", max_length=1000)
        return self._act(ids, PayoutAction.REVERSE, actor=actor, reason=checked)

    def schedule_approved(self, *, actor: str, batch: int = 1000) -> list[dict[str, Any]]:
        """Every approved payout scheduled for its due date (today when it has none or it
        is past): the daemon's sweep. Each ``batch`` is one transaction; a payout another
        hand moved on meanwhile is left as that hand left it."""
        out: list[dict[str, Any]] = []
        now = self.clock()
        while True:
            with transaction(self.factory) as session:
                rows = session.scalars(
                    select(Payout)
                    .where(Payout.status == PayoutStatus.APPROVED)
                    .order_by(Payout.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                ).all()
                for payout in rows:
                    self._apply(session, payout, PayoutAction.SCHEDULE, now=now,
                                today=now.date(), on=None, reference=None, reason=None,
                                actor=actor)  # fmt: skip
                stage_deals(session, {p.opportunity_id for p in rows if p.opportunity_id})
                out.extend(payout_view(p) for p in rows)
            if len(rows) < batch:
                return out

    def _act(
        self,
        ids: Sequence[int],
        action: PayoutAction,
        *,
        actor: str,
        on: date | None = None,
        reference: str | None = None,
        reason: str | None = None,
    ) -> list[dict[str, Any]]:
        wanted = sorted(set(ids))
        if not wanted:
            raise ProgramError("no payout ids given", field="ids")
        if len(wanted) > _MAX_IDS:
            raise ProgramError(f"at most {_MAX_IDS:,} payouts at once", field="ids")
        now = self.clock()
        today = now.date()
        with transaction(self.factory) as session:
            found = {
                p.id: p
                for p in session.scalars(
                    select(Payout).where(Payout.id.in_(wanted)).with_for_update()
                )
            }
            missing = [i for i in wanted if i not in found]
            if missing:
                raise NotFound(f"no payout {', '.join(map(str, missing))}", field="ids")
            refused = []
            for payout_id in wanted:
                try:
                    next_status(found[payout_id].status, action)
                except IllegalPayoutTransition:
                    refused.append(f"{payout_id} ({found[payout_id].status.value})")
            if refused:
                example = IllegalPayoutTransition(action, found[wanted[0]].status)
                needs = str(example).split("(needs ", 1)[1].rstrip(")")
                raise Conflict(
                    f"cannot {action.value} payout{'s' if len(refused) > 1 else ''} "
                    f"{', '.join(refused)}: {action.value} needs {needs}; nothing changed"
                )
            for payout_id in wanted:
                self._apply(session, found[payout_id], action, now=now, today=today, on=on,
                            reference=reference, reason=reason, actor=actor)  # fmt: skip
            stage_deals(session, {p.opportunity_id for p in found.values() if p.opportunity_id})
            return [payout_view(found[i]) for i in wanted]

    def _apply(
        self,
        session: Session,
        payout: Payout,
        action: PayoutAction,
        *,
        now: datetime,
        today: date,
        on: date | None,
        reference: str | None,
        reason: str | None,
        actor: str,
    ) -> None:
        before = {"status": payout.status.value}
        payout.status = next_status(payout.status, action)
        after: dict[str, Any] = {"status": payout.status.value}
        if action is PayoutAction.SCHEDULE:
            day = on or max(payout.due_on or today, today)
            payout.scheduled_for = day
            after["scheduled_for"] = day
        elif action is PayoutAction.PAY:
            payout.paid_at = on or today
            payout.reference = reference
            after.update(paid_at=payout.paid_at, reference=reference)
        elif action is PayoutAction.REVERSE:
            after["reversal_entries"] = self._reverse_entries(session, payout, reason or "",
                                                              now=now)  # fmt: skip
        payout.updated_at = now
        record(session, AuditEntity.PAYOUT, payout.id, action.value, before, after, reason,
               actor, at=now)  # fmt: skip

    @staticmethod
    def _reverse_entries(session: Session, payout: Payout, reason: str, *, now: datetime) -> int:
        """Negate every entry the payout covers that no reversal negated yet."""
        if payout.opportunity_id is None:
            return 0
        book = books_of(session, [payout.opportunity_id])[payout.opportunity_id]
        covered = {e for e, p in book.covered.items() if p == payout.id}
        count = 0
        for entry in standing(book.entries):
            if entry.id not in covered:
                continue
            row = LedgerEntry(
                partner_id=payout.partner_id, opportunity_id=payout.opportunity_id,
                agreement_rule_id=entry.rule_id, kind=LedgerKind.REVERSAL,
                amount=-entry.amount, currency=entry.currency, flow=entry.flow,
                idempotency_key=f"{MANUAL_REVERSAL}{payout.id}:entry:{entry.id}",
                reverses_entry_id=entry.id, reason=reason, occurred_at=now, created_at=now,
            )  # fmt: skip
            session.add(row)
            session.flush()
            session.add(PayoutEntry(ledger_entry_id=row.id, payout_id=payout.id))
            record(session, AuditEntity.LEDGER_ENTRY, row.id, "reversed",
                   {"entry": entry.id, "amount": entry.amount}, {"amount": row.amount},
                   reason, f"payout:{payout.id}", at=now)  # fmt: skip
            count += 1
        return count
