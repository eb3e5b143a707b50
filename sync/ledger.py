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
from typing import Any, NamedTuple, cast

import orjson
from sqlalchemy import Table, and_, select, update
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
    CoSellDirection,
    Crm,
    LedgerEntry,
    LedgerKind,
    MoneyFlow,
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
    session.flush()  # what the session holds is read too, as an ORM query would
    rows = session.connection().execute(  # Core rows: a replay reads them per chunk
        select(
            cast(Table, AgreementRule.__table__),
            Agreement.partner_id.label("of_partner"),
            Agreement.version.label("of_version"),
            Agreement.effective_from.label("version_from"),
            Agreement.effective_to.label("version_to"),
        )
        .join(Agreement, Agreement.id == AgreementRule.agreement_id)
        .where(Agreement.partner_id.in_(wanted))
        .order_by(Agreement.version, AgreementRule.id)
    )
    for rule in rows:
        terms = rule_terms(rule, rule.of_version, rule.version_from, rule.version_to)
        if terms is not None:
            found[rule.of_partner].append(terms)
    return found


def rule_terms(
    rule: AgreementRule | Any, version: int, starts: date, ends: date | None
) -> RuleTerms | None:
    """A stored rule (or a row of its columns) as terms, clipped to its agreement's
    period; ``None`` when nothing of it is left in force."""
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


class _DealRow(NamedTuple):
    """The columns of a deal :func:`settle` reads (as :data:`_DEAL_COLUMNS`), by name at
    a tuple's cost: a SQLAlchemy row's attribute costs about 0.4 µs, read some twenty
    times a deal."""

    id: int
    crm: Crm
    crm_id: str
    partner_id: str | None
    currency: str | None
    amount: Decimal | None
    cost: Decimal | None
    paid_amount: Decimal | None
    paid_date: date | None
    close_date: date | None
    is_won: bool
    deleted: bool
    practice: str | None
    direction: CoSellDirection | None


_DEAL_COLUMNS = tuple(getattr(Opportunity, name) for name in _DealRow._fields)


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
    session.flush()  # what the session holds is read too, as an ORM query would
    connection = session.connection()  # Core rows: a replay reads every deal's ledger
    for start in range(0, len(ids), _CHUNK):
        part = ids[start : start + _CHUNK]
        # Unpacked, not read by name: a row's attribute costs more than the rest of its work.
        for (
            deal_id,
            partner_id,
            id_,
            kind,
            amount,
            currency,
            rule_id,
            flow,
            reverses,
            key,
        ) in connection.execute(
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
            .where(_among(LedgerEntry.opportunity_id, part, dialect))
            .order_by(LedgerEntry.id)
        ):
            book = books[deal_id]
            book.partner_id = partner_id
            book.entries.append(Entry(id_, kind, amount, currency, rule_id, flow, reverses, key,
                                      key.startswith(MANUAL_REVERSAL)))  # fmt: skip
    if payouts:
        add_payouts(session, books, [i for i in ids if books[i].entries])
    return books


def _among(column: Any, ids: Sequence[int], dialect: str) -> Any:
    """``column IN ids``, also bounded by the lowest and highest of them: the same rows,
    but a planner without statistics on ``column`` (a ledger grown since its last
    ANALYZE) then reads them through its index, where ``IN`` a thousand ids alone makes
    it scan the whole table for every chunk."""
    return and_(column.between(min(ids), max(ids)), one_of(column, ids, dialect))


def add_payouts(session: Session, books: Mapping[int, Book], ids: Sequence[int]) -> None:
    """Read the payouts of these deals into their books."""
    dialect = session.get_bind().dialect.name
    for start in range(0, len(ids), _CHUNK):
        with_rows = ids[start : start + _CHUNK]
        for row in session.execute(
            select(Payout.__table__, PayoutEntry.ledger_entry_id)
            .join(PayoutEntry, PayoutEntry.payout_id == Payout.id)
            .where(_among(Payout.opportunity_id, with_rows, dialect))
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
    deals: list[_DealRow] = []
    session.flush()  # what the session holds is read too, as an ORM query would
    connection = session.connection()  # Core rows: no ORM loading for thousands of deals
    for start in range(0, len(ids), _CHUNK):
        deals += map(
            _DealRow._make,
            connection.execute(
                select(*_DEAL_COLUMNS).where(
                    one_of(Opportunity.id, ids[start : start + _CHUNK], dialect)
                )
            ),
        )
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
    partners: list[str | None] = []  # of each changed deal, in order
    midnights: dict[date | None, datetime] = {}  # a batch's deals share few trigger dates
    for deal, due, moves in changed:
        partner_id = deal.partner_id or books[deal.id].partner_id
        partners.append(partner_id)
        for move in moves:
            if move.kind is LedgerKind.ACCRUAL:
                occurred = midnights.get(due.trigger_date)
                if occurred is None:
                    occurred = midnights[due.trigger_date] = _midnight(due.trigger_date, now)
            else:
                occurred = now
            rows.append({
                "partner_id": partner_id, "opportunity_id": deal.id,
                "agreement_rule_id": move.rule_id, "kind": move.kind, "amount": move.amount,
                "currency": move.currency, "basis_amount": move.basis_amount, "flow": move.flow,
                "idempotency_key": move.key, "reverses_entry_id": move.reverses,
                "reason": move.reason, "occurred_at": occurred, "created_at": now,
            })  # fmt: skip
    written: dict[str, int] = dict(
        insert_absent_returning(
            session, _LEDGER, rows, ("idempotency_key",), ("idempotency_key", "id")
        )
    )
    new_payouts: list[dict[str, Any]] = []
    entry_ids: list[int] = []  # the ledger row each new payout pays, in step
    links: list[dict[str, Any]] = []
    reversed_payouts: set[int] = set()
    audit: list[AuditRow] = []
    for (deal, due, moves), partner_id in zip(changed, partners, strict=True):
        book = books[deal.id]
        for move in moves:
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
            new_payouts.append({
                "partner_id": partner_id, "opportunity_id": deal.id,
                "amount": move.amount, "currency": move.currency, "flow": move.flow,
                "status": PayoutStatus.ACCRUED, "reference": None, "due_on": due.due_on,
                "scheduled_for": None, "paid_at": None, "created_at": now, "updated_at": now,
            })  # fmt: skip
            entry_ids.append(entry_id)
    if new_payouts:
        made = _insert_payouts(session, new_payouts, entry_ids, now)
        for entry_id, payout in zip(entry_ids, new_payouts, strict=True):
            payout_id = made[payout["opportunity_id"]]
            payout["id"] = payout_id
            book = books[payout["opportunity_id"]]
            book.payouts[payout_id] = payout
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
    staged: list[Staged] = []
    for deal, due, _ in changed:
        if deal.deleted:
            continue  # nothing to show in a CRM that no longer has it
        book = books[deal.id]
        currency = due.currency or (book.entries[-1].currency if book.entries else None)
        fields = payout_fields(_net(book.entries, currency), currency, book.payouts.values())
        staged.append(Staged(deal.id, deal.crm, deal.crm_id, fields))
    stage_many(session, staged)


def _insert_payouts(
    session: Session, payouts: list[dict[str, Any]], entry_ids: list[int], now: datetime
) -> dict[int, int]:
    """Insert new payouts and link each to its ledger row (``entry_ids``, in step);
    returns each payout's id by its deal. At most one new payout a deal a call (one
    accrual or adjustment), so the deal tells the returned ids apart."""
    if session.get_bind().dialect.name != "postgresql":
        made = dict((deal_id, id_) for id_, deal_id in insert_absent_returning(
            session, _PAYOUTS, payouts, (), ("id", "opportunity_id")))  # fmt: skip
        links = [{"ledger_entry_id": entry_id, "payout_id": made[p["opportunity_id"]]}
                 for entry_id, p in zip(entry_ids, payouts, strict=True)]  # fmt: skip
        insert(session, _LINKS, links)
        return made
    # PostgreSQL: the payouts and their links in one statement, from one document of
    # what differs between them. Its values are those of the ledger rows just written
    # (which the column types checked), the due date and the ids the store gave.
    document = orjson.dumps([
        [entry_id, p["partner_id"], p["opportunity_id"], format(p["amount"], "f"),
         p["currency"], MoneyFlow(p["flow"]).value,
         None if p["due_on"] is None else p["due_on"].isoformat()]
        for entry_id, p in zip(entry_ids, payouts, strict=True)
    ]).decode()  # fmt: skip
    result = session.connection().exec_driver_sql(
        _PG_PAYOUTS_AND_LINKS, (document, PayoutStatus.ACCRUED.value, now, now)
    )
    return {deal_id: id_ for id_, deal_id in result}


#: New payouts and their payout_entries links, on PostgreSQL (see _insert_payouts): each
#: document row is [ledger entry id, partner, deal, amount, currency, flow, due date].
_PG_PAYOUTS_AND_LINKS = """
WITH r AS MATERIALIZED (
    SELECT (e->>0)::bigint AS ledger_entry_id, e->>1 AS partner_id,
           (e->>2)::bigint AS opportunity_id, (e->>3)::numeric AS amount,
           e->>4 AS currency, e->>5 AS flow, (e->>6)::date AS due_on
    FROM jsonb_array_elements(%s::jsonb) AS e
), p AS (
    INSERT INTO payouts (partner_id, opportunity_id, amount, currency, flow, status,
                         reference, due_on, scheduled_for, paid_at, created_at, updated_at)
    SELECT partner_id, opportunity_id, amount, currency, flow, %s, NULL, due_on, NULL,
           NULL, %s, %s
    FROM r
    RETURNING id, opportunity_id
), l AS (
    INSERT INTO payout_entries (ledger_entry_id, payout_id)
    SELECT r.ledger_entry_id, p.id FROM r JOIN p USING (opportunity_id)
)
SELECT id, opportunity_id FROM p
"""


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
