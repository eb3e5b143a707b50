"""The commission ledger: bring deals' ledger rows to what their partners' rules say.

:func:`settle` is the one writer of ledger rows from deals: the pull calls it on each
page's deals (:class:`CommissionAccruals`), ``commissions replay`` on every deal, an
amendment on the deals its new rules touch. For a batch of deals it reads, in a few
statements whatever the batch's size, the deals, their partners' rules (every agreement
version, each rule clipped to its version's period) and their ledger rows and payouts;
asks :func:`rules.commission.corrections` for the rows that correct each deal; and
writes them:

- ledger rows in one ``INSERT ... ON CONFLICT (idempotency_key) DO NOTHING RETURNING``:
  a row another worker wrote first is skipped, and only the rows this call wrote get
  payouts (so two workers settling one deal at once write its rows once);
- a payout (``accrued``, due on the trigger date plus the rule's delay) for each accrual
  and adjustment; a reversal reverses the payout of the entry it negates (whatever its
  state: a paid one is then a claw-back) and is linked to it;
- an audit row for each reversal, with its reason;
- the deal's CRM fields (``commission.accrued``, ``payout.*``), staged for the next push.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from rules.commission import (
    Commission,
    Deal,
    Entry,
    Move,
    Outcome,
    RuleTerms,
    commission,
    corrections,
    known_currency,
    round_money,
)
from sync.audit import AuditRow, record_many
from sync.mirror.handlers import PageChanges
from sync.store import (
    Agreement,
    AgreementRule,
    AuditEntity,
    LedgerEntry,
    LedgerKind,
    Opportunity,
    Payout,
    PayoutEntry,
    PayoutStatus,
)
from sync.store.bulk import insert, insert_absent_returning
from sync.store.lists import one_of
from sync.writeback.outbox import Staged, stage_many

__all__ = [
    "MANUAL_REVERSAL",
    "Book",
    "CommissionAccruals",
    "books_of",
    "deal_of",
    "figure",
    "partner_rules",
    "payout_fields",
    "settle",
    "shown",
    "stage_deals",
]

#: The idempotency key prefix of reversals a person made (``payouts reverse``).
MANUAL_REVERSAL = "reversal:payout:"
_LEDGER = cast(Table, LedgerEntry.__table__)
_PAYOUTS = cast(Table, Payout.__table__)
_LINKS = cast(Table, PayoutEntry.__table__)
_CHUNK = 1000


def deal_of(row: Any, default_currency: str = "") -> Deal:
    """The commission facts of a mirrored deal (an ``Opportunity`` or a row with its
    columns); ``default_currency`` for a deal whose record carries none."""
    return Deal(
        currency=(row.currency or default_currency or None),
        amount=row.amount, cost=row.cost, paid_amount=row.paid_amount, paid_date=row.paid_date,
        close_date=row.close_date, won=bool(row.is_won), deleted=bool(row.deleted),
        practice=row.practice, direction=row.direction,
    )  # fmt: skip


def partner_rules(session: Session, partner_ids: Iterable[str]) -> dict[str, list[RuleTerms]]:
    """Every rule of these partners' agreements, every version, each clipped to its
    version's period (an amended version's rules end where the next version starts)."""
    wanted = sorted(set(partner_ids))
    found: dict[str, list[RuleTerms]] = {p: [] for p in wanted}
    if not wanted:
        return found
    rows = session.execute(
        select(
            AgreementRule,
            Agreement.partner_id,
            Agreement.version,
            Agreement.effective_from,
            Agreement.effective_to,
        )
        .join(Agreement, Agreement.id == AgreementRule.agreement_id)
        .where(Agreement.partner_id.in_(wanted))
        .order_by(Agreement.version, AgreementRule.id)
    )
    for rule, partner_id, version, starts, ends in rows:
        terms = rule_terms(rule, version, starts, ends)
        if terms is not None:
            found[partner_id].append(terms)
    return found


def rule_terms(
    rule: AgreementRule, version: int, starts: date, ends: date | None
) -> RuleTerms | None:
    """A stored rule as terms, clipped to its agreement's period; ``None`` when nothing
    of it is left in force."""
    effective_from = max(rule.effective_from, starts)
    effective_to = min((d for d in (rule.effective_to, ends) if d is not None), default=None)
    if effective_to is not None and effective_to <= effective_from:
        return None
    return RuleTerms(
        practice=rule.practice, direction=rule.direction, basis=rule.basis,
        percent=rule.percent, flow=rule.flow, trigger=rule.trigger,
        effective_from=effective_from, effective_to=effective_to, floor=rule.floor,
        ceiling=rule.ceiling, payout_delay_days=rule.payout_delay_days, id=rule.id,
        version=version,
    )  # fmt: skip


@dataclass
class Book:
    """A deal's ledger rows and payouts as stored (and as this call changes them)."""

    entries: list[Entry]
    payouts: dict[int, dict[str, Any]]  # payout id -> its columns
    covered: dict[int, int]  # ledger entry id -> payout id
    partner_id: str | None = None  # of its ledger rows


def books_of(session: Session, ids: Sequence[int], *, payouts: bool = True) -> dict[int, Book]:
    """The ledger rows of these deals and, with ``payouts``, their payouts (what a deal
    that needs no correction does without)."""
    dialect = session.get_bind().dialect.name
    books: dict[int, Book] = {i: Book([], {}, {}) for i in ids}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        for row in session.execute(
            select(
                LedgerEntry.opportunity_id,
                LedgerEntry.partner_id,
                LedgerEntry.id,
                LedgerEntry.kind,
                LedgerEntry.amount,
                LedgerEntry.currency,
                LedgerEntry.agreement_rule_id,
                LedgerEntry.flow,
                LedgerEntry.reverses_entry_id,
                LedgerEntry.idempotency_key,
            )
            .where(one_of(LedgerEntry.opportunity_id, part, dialect))
            .order_by(LedgerEntry.id)
        ):
            key = row.idempotency_key
            books[row.opportunity_id].partner_id = row.partner_id
            books[row.opportunity_id].entries.append(
                Entry(row.id, row.kind, row.amount, row.currency, row.agreement_rule_id,
                      row.flow, row.reverses_entry_id, key, key.startswith(MANUAL_REVERSAL))
            )  # fmt: skip
    if payouts:
        add_payouts(session, books, [i for i in ids if books[i].entries])
    return books


def add_payouts(session: Session, books: Mapping[int, Book], ids: Sequence[int]) -> None:
    """Read the payouts of these deals into their books."""
    dialect = session.get_bind().dialect.name
    for start in range(0, len(ids), _CHUNK):
        with_rows = ids[start : start + _CHUNK]
        for row in session.execute(
            select(Payout.__table__, PayoutEntry.ledger_entry_id)
            .join(PayoutEntry, PayoutEntry.payout_id == Payout.id)
            .where(one_of(Payout.opportunity_id, with_rows, dialect))
        ):
            values = dict(row._mapping)
            entry_id = values.pop("ledger_entry_id")
            book = books[values["opportunity_id"]]
            book.payouts[values["id"]] = values
            book.covered[entry_id] = values["id"]


def shown(amount: Decimal | None, currency: str | None) -> Decimal | None:
    """A stored amount in its currency's minor unit (the store keeps four places)."""
    if amount is None or not currency or not known_currency(currency):
        return amount
    return round_money(amount, currency)


def figure(value: Decimal | None) -> Decimal | None:
    """A percent or a bound without the store's trailing zeros (``10``, ``12.5``)."""
    if value is None:
        return None
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


def payout_fields(due_net: Decimal | None, currency: str | None,
                  payouts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """What a deal's CRM fields show of its commission: the ledger's net and its newest
    payout that is not reversed (or the newest, when all are), with the reference and
    date of its newest paid one."""
    ordered = sorted(payouts, key=lambda p: p["id"])
    standing = [p for p in ordered if p["status"] is not PayoutStatus.REVERSED]
    latest = (standing or ordered)[-1] if ordered else None
    paid = [p for p in ordered if p["paid_at"] is not None and p["status"] is PayoutStatus.PAID]
    return {
        "commission.accrued": shown(due_net, currency),
        "commission.currency": currency,
        "payout.status": latest["status"] if latest else None,
        "payout.amount": shown(latest["amount"], currency) if latest else None,
        "payout.reference": paid[-1]["reference"] if paid else None,
        "payout.paid_at": paid[-1]["paid_at"] if paid else None,
    }


def _net(entries: Iterable[Entry], currency: str | None) -> Decimal:
    return sum((e.amount for e in entries if e.currency == currency), Decimal(0))


def _midnight(day: date | None, now: datetime) -> datetime:
    return datetime.combine(day, time(), UTC) if day is not None else now


def settle(
    session: Session,
    opportunity_ids: Iterable[int],
    *,
    now: datetime,
    actor: str,
    default_currency: str = "",
    rules: Mapping[str, list[RuleTerms]] | None = None,
    dry_run: bool = False,
) -> tuple[Counter[str], list[tuple[Opportunity | Any, Commission, list[Move]]]]:
    """Correct the ledger of these deals (see the module); returns counts
    (``accrual``, ``adjustment``, ``reversal`` rows written, ``payouts`` made,
    ``deals`` settled) and, per deal that needed rows, the deal, its commission and the
    rows. ``rules`` replaces the stored rules (an amendment's dry run); ``dry_run``
    writes nothing."""
    ids = sorted(set(opportunity_ids))
    counts: Counter[str] = Counter()
    changed: list[tuple[Any, Commission, list[Move]]] = []
    if not ids:
        return counts, changed
    dialect = session.get_bind().dialect.name
    deals: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        deals += session.execute(
            select(
                Opportunity.id,
                Opportunity.crm,
                Opportunity.crm_id,
                Opportunity.partner_id,
                Opportunity.currency,
                Opportunity.amount,
                Opportunity.cost,
                Opportunity.paid_amount,
                Opportunity.paid_date,
                Opportunity.close_date,
                Opportunity.is_won,
                Opportunity.deleted,
                Opportunity.practice,
                Opportunity.direction,
            ).where(one_of(Opportunity.id, ids[start : start + _CHUNK], dialect))
        ).all()
    books = books_of(session, [d.id for d in deals], payouts=False)
    deals = [d for d in deals if d.partner_id is not None or books[d.id].entries]
    if rules is None:
        rules = partner_rules(session, (d.partner_id for d in deals if d.partner_id))
    for deal in deals:
        counts["deals"] += 1
        due = commission(deal_of(deal, default_currency), rules.get(deal.partner_id or "", ()))
        if deal.partner_id is None:  # the partner came off the deal: nothing is owed
            due = Commission(Outcome.NO_PARTNER)
        moves = corrections(deal.id, due, books[deal.id].entries)
        if moves:
            changed.append((deal, due, moves))
    if dry_run or not changed:
        return counts, changed
    add_payouts(session, books, [deal.id for deal, _, _ in changed if books[deal.id].entries])
    _write(session, changed, books, now=now, actor=actor, counts=counts)
    return counts, changed


def _write(
    session: Session,
    changed: list[tuple[Any, Commission, list[Move]]],
    books: dict[int, Book],
    *,
    now: datetime,
    actor: str,
    counts: Counter[str],
) -> None:
    rows: list[dict[str, Any]] = []
    for deal, due, moves in changed:
        for move in moves:
            occurred = _midnight(due.trigger_date, now) if move.kind is LedgerKind.ACCRUAL else now
            rows.append({
                "partner_id": deal.partner_id or books[deal.id].partner_id,
                "opportunity_id": deal.id, "agreement_rule_id": move.rule_id,
                "kind": move.kind, "amount": move.amount, "currency": move.currency,
                "basis_amount": move.basis_amount, "flow": move.flow,
                "idempotency_key": move.key, "reverses_entry_id": move.reverses,
                "reason": move.reason, "occurred_at": occurred, "created_at": now,
            })  # fmt: skip
    written = dict(
        (key, id_)
        for id_, key in insert_absent_returning(
            session, _LEDGER, rows, ("idempotency_key",), ("id", "idempotency_key")
        )
    )
    new_payouts: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    reversed_payouts: set[int] = set()
    audit: list[AuditRow] = []
    staged: list[Staged] = []
    pending_links: list[tuple[int, dict[str, Any]]] = []  # (entry id, its new payout row)
    for (deal, due, moves), in_rows in _grouped(changed, rows):
        book = books[deal.id]
        for move, row in zip(moves, in_rows, strict=True):
            entry_id = written.get(move.key)
            if entry_id is None:
                continue  # another worker wrote it first
            counts[move.kind.value] += 1
            entry = Entry(entry_id, move.kind, move.amount, move.currency, move.rule_id,
                          move.flow, move.reverses, move.key)  # fmt: skip
            book.entries.append(entry)
            if move.kind is LedgerKind.REVERSAL:
                audit.append(AuditRow(AuditEntity.LEDGER_ENTRY, entry_id, "reversed",
                                      {"entry": move.reverses, "amount": -move.amount},
                                      {"amount": move.amount}, move.reason, actor))  # fmt: skip
                payout_id = book.covered.get(move.reverses or 0)
                if payout_id is not None:
                    links.append({"ledger_entry_id": entry_id, "payout_id": payout_id})
                    book.covered[entry_id] = payout_id
                    if book.payouts[payout_id]["status"] is not PayoutStatus.REVERSED:
                        reversed_payouts.add(payout_id)
                        book.payouts[payout_id]["status"] = PayoutStatus.REVERSED
                continue
            payout = {
                "partner_id": row["partner_id"], "opportunity_id": deal.id,
                "amount": move.amount, "currency": move.currency, "flow": move.flow,
                "status": PayoutStatus.ACCRUED, "reference": None, "due_on": due.due_on,
                "scheduled_for": None, "paid_at": None, "created_at": now, "updated_at": now,
            }  # fmt: skip
            new_payouts.append(payout)
            pending_links.append((entry_id, payout))
    if new_payouts:
        # At most one new payout a deal a call (one accrual or adjustment), so the deal
        # tells the returned ids apart.
        made = dict((deal_id, id_) for id_, deal_id in insert_absent_returning(
            session, _PAYOUTS, new_payouts, (), ("id", "opportunity_id")))  # fmt: skip
        for entry_id, payout in pending_links:
            payout_id = made[payout["opportunity_id"]]
            links.append({"ledger_entry_id": entry_id, "payout_id": payout_id})
            book = books[payout["opportunity_id"]]
            book.payouts[payout_id] = {**payout, "id": payout_id}
            book.covered[entry_id] = payout_id
        counts["payouts"] += len(made)
    if reversed_payouts:
        session.execute(
            update(Payout)
            .where(Payout.id.in_(sorted(reversed_payouts)))
            .values(status=PayoutStatus.REVERSED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    if links:
        insert(session, _LINKS, links)
    if audit:
        record_many(session, audit, at=now)
    for deal, due, _ in changed:
        if deal.deleted:
            continue  # nothing to show in a CRM that no longer has it
        book = books[deal.id]
        currency = due.currency or (book.entries[-1].currency if book.entries else None)
        fields = payout_fields(_net(book.entries, currency), currency, book.payouts.values())
        staged.append(Staged(deal.id, deal.crm, deal.crm_id, fields))
    stage_many(session, staged)


def _grouped(
    changed: list[tuple[Any, Commission, list[Move]]], rows: list[dict[str, Any]]
) -> Iterable[tuple[tuple[Any, Commission, list[Move]], list[dict[str, Any]]]]:
    at = 0
    for item in changed:
        count = len(item[2])
        yield item, rows[at : at + count]
        at += count


class CommissionAccruals:
    """The mirror handler: settle each page's partner deals in the page's transaction."""

    name = "commissions"
    before: frozenset[str] = frozenset()

    def __init__(self, default_currency: str = "") -> None:
        self.default_currency = default_currency

    def __call__(self, session: Session, changes: PageChanges) -> Mapping[str, int] | None:
        ids = changes.opportunity_ids(session)
        wanted = [ids[crm_id] for crm_id in changes.deleted if crm_id in ids]
        wanted += [ids[row["crm_id"]] for row in changes.rows if row["crm_id"] in ids]
        counts, _ = settle(session, wanted, now=changes.now, actor=f"pull:{changes.crm.value}",
                           default_currency=self.default_currency)  # fmt: skip
        return {f"ledger_{kind}": n for kind, n in counts.items() if kind != "deals"}


def stage_deals(session: Session, opportunity_ids: Iterable[int]) -> None:
    """Stage the commission fields of these deals as their ledger and payouts now stand
    (after a payout changed state)."""
    ids = sorted(set(opportunity_ids))
    if not ids:
        return
    session.flush()
    books = books_of(session, ids)
    deals = session.execute(
        select(Opportunity.id, Opportunity.crm, Opportunity.crm_id, Opportunity.currency)
        .where(Opportunity.id.in_(ids), Opportunity.deleted.is_(False))
    ).all()  # fmt: skip
    staged = []
    for deal in deals:
        book = books[deal.id]
        currency = book.entries[-1].currency if book.entries else deal.currency
        fields = payout_fields(_net(book.entries, currency), currency, book.payouts.values())
        staged.append(Staged(deal.id, deal.crm, deal.crm_id, fields))
    stage_many(session, staged)
