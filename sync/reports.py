"""The named reports: one aggregate query each (no query per row), amounts per currency
and never summed across currencies, money in each currency's minor unit.

- ``payouts-by-partner``: per partner, currency and flow, the payouts falling due in the
  year: how many, their total (reversed ones aside), what is paid, what is outstanding,
  the last payment date;
- ``ytd-summary``: per partner, currency and flow, the year to date (to today for the
  current year) by payout state: accrued, approved, scheduled, paid, reversed, and the
  net (everything not reversed);
- ``deal-profitability``: per won partner deal closed in the year: amount, cost, what we
  pay (payable) and are paid (receivable) by the ledger, net margin (amount - cost -
  payable + receivable), and the rule used, or why none (``no_rule``, ``no_cost``,
  ``no_direction``, ``not_paid``, ``no_currency``), so nothing is silently unpaid;
- ``commission-received``: per partner and currency, receivable commissions: expected
  (not reversed), received (paid), outstanding;
- ``combined-revenue``: by month of close, won revenue side by side: direct (no
  partner), partner sourced, direct sourced and partner sold;
- ``payouts-by-status``: per state, currency and flow, how many payouts and their total.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    Numeric,
    Select,
    String,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeEngine

from rules.commission import (
    Deal,
    Outcome,
    commission,
    known_currency,
    minor_units,
)
from sync.ledger import partner_rules, shown
from sync.program import ProgramError, checked_id
from sync.store import (
    CoSellDirection,
    LedgerEntry,
    LedgerKind,
    MoneyFlow,
    Opportunity,
    Payout,
    PayoutStatus,
)

__all__ = ["REPORTS", "run_report"]

_S = PayoutStatus
#: The stored text of a flow and a kind, as the raw rows of deal-profitability hold them.
_PAYABLE, _RECEIVABLE = MoneyFlow.PAYABLE.value, MoneyFlow.RECEIVABLE.value
_REVERSAL = LedgerKind.REVERSAL.value


def _sum_when(condition: Any, amount: Any = Payout.amount) -> Any:
    return func.coalesce(func.sum(case((condition, amount), else_=0)), 0)


def _year(column: Any, year: int, until: date | None = None) -> Any:
    ends = until if until is not None else date(year + 1, 1, 1)
    return and_(column >= date(year, 1, 1), column < ends)


def _partner(query: Select[Any], column: Any, partner_id: str | None) -> Select[Any]:
    return query if partner_id is None else query.where(column == partner_id)


def _money_rows(rows: Any, money: tuple[str, ...]) -> list[dict[str, Any]]:
    out = []
    for row in rows:
        values = dict(row._mapping)
        currency = values.get("currency")
        for key in money:
            if values.get(key) is not None:
                values[key] = shown(Decimal(values[key]), currency)
        if "flow" in values and values["flow"] is not None:
            values["flow"] = MoneyFlow(values["flow"]).value
        if "status" in values and values["status"] is not None:
            values["status"] = PayoutStatus(values["status"]).value
        out.append(values)
    return out


def payouts_by_partner(
    session: Session, year: int, partner_id: str | None, today: date, **_: Any
) -> list[dict[str, Any]]:
    standing = Payout.status != _S.REVERSED
    outstanding = Payout.status.in_([_S.ACCRUED, _S.APPROVED, _S.SCHEDULED])
    query = (
        select(
            Payout.partner_id,
            Payout.currency,
            Payout.flow,
            func.count().label("payouts"),
            _sum_when(standing).label("total"),
            _sum_when(Payout.status == _S.PAID).label("paid"),
            _sum_when(outstanding).label("outstanding"),
            func.max(Payout.paid_at).label("last_paid_at"),
        )
        .where(_year(Payout.due_on, year))
        .group_by(Payout.partner_id, Payout.currency, Payout.flow)
        .order_by(Payout.partner_id, Payout.currency, Payout.flow)
    )
    rows = session.execute(_partner(query, Payout.partner_id, partner_id))
    return _money_rows(rows, ("total", "paid", "outstanding"))


def ytd_summary(
    session: Session, year: int, partner_id: str | None, today: date, **_: Any
) -> list[dict[str, Any]]:
    until = today + timedelta(days=1) if today.year == year else None
    query = (
        select(
            Payout.partner_id,
            Payout.currency,
            Payout.flow,
            *(_sum_when(Payout.status == s).label(s.value) for s in _S),
            _sum_when(Payout.status != _S.REVERSED).label("net"),
        )
        .where(_year(Payout.due_on, year, until))
        .group_by(Payout.partner_id, Payout.currency, Payout.flow)
        .order_by(Payout.partner_id, Payout.currency, Payout.flow)
    )
    rows = session.execute(_partner(query, Payout.partner_id, partner_id))
    return _money_rows(rows, (*(s.value for s in _S), "net"))


def deal_profitability(
    session: Session, year: int, partner_id: str | None, today: date, default_currency: str
) -> list[dict[str, Any]]:
    # A year holds hundreds of thousands of deals, so every column comes back as the store
    # keeps it (money as integers x 10^4 and dates as text on SQLite), without the
    # per-value conversions of the column types, and each amount is converted once,
    # rounded in the same step. (Rounding in SQL, per row's currency, was slower on both
    # stores.) Each deal comes with its ledger rows, joined, not summed in SQL: most deals
    # have one, and grouping the whole ledger costs the database more than the few
    # further rows cost Python. The facts that say why a deal has no rule come back only
    # on rows that may be such a deal's (no ledger row, a reversal, a row without a rule).
    sqlite = session.get_bind().dialect.name == "sqlite"
    money: TypeEngine[Any] = BigInteger() if sqlite else Numeric(18, 4, asdecimal=True)
    day: TypeEngine[Any] = String() if sqlite else Date()
    entry, deal = LedgerEntry, Opportunity
    may_be_unruled = or_(entry.agreement_rule_id.is_(None), entry.kind == LedgerKind.REVERSAL)
    query = (
        select(
            deal.id, type_coerce(deal.crm, String()), deal.crm_id, deal.name, deal.partner_id,
            type_coerce(deal.close_date, day), deal.currency,
            type_coerce(deal.amount, money), type_coerce(deal.cost, money),
            type_coerce(entry.flow, String()), type_coerce(entry.amount, money),
            type_coerce(entry.kind, String()), entry.agreement_rule_id,
            type_coerce(case((may_be_unruled, deal.paid_amount)), money),
            type_coerce(case((may_be_unruled, deal.paid_date)), day),
            case((may_be_unruled, deal.practice)),
            type_coerce(case((may_be_unruled, deal.direction)), String()),
        )
        .outerjoin(entry, entry.opportunity_id == deal.id)
        .where(
            deal.is_won.is_(True),
            deal.deleted.is_(False),
            or_(deal.partner_id.is_not(None), entry.id.is_not(None)),
            _year(deal.close_date, year),
        )
        .order_by(deal.id)  # a deal's rows together; by close date below (cheaper in Python)
    )  # fmt: skip
    statement = _partner(query, deal.partner_id, partner_id)
    # The driver's own tuples: no ORM loading, and no Row built around each of them.
    result = session.connection().execute(statement)
    try:
        found = result.cursor.fetchall()
    finally:
        result.close()
    to_date = _dates() if sqlite else _same
    nothing = 0 if sqlite else Decimal(0)  # what SQL's SUM(CASE ... ELSE 0) adds
    out: list[dict[str, Any]] = []
    unruled: dict[int, list[Any]] = {}  # index in out -> its facts; its rule said below
    rounders: dict[str | None, Callable[[Any], Decimal | None]] = {}
    zeros: dict[str | None, Decimal | None] = {}  # 0 in each currency's minor unit
    names: dict[int, str] = {}  # rule id -> "#id": a year's deals share a few rules
    # The deal of the row before: its sums and rule so far, and how its amounts round.
    last_id, payable, receivable, best = None, nothing, nothing, None
    cents: Callable[[Any], Decimal | None] = _same
    for (deal_id, crm, crm_id, name, partner, closed, currency, amount, cost, flow, booked,
         kind, rule_id, paid_amount, paid_date, practice, direction) in found:  # fmt: skip
        if deal_id == last_id:  # a further ledger row of the deal just made (few deals)
            payable += booked if flow == _PAYABLE else nothing
            receivable += booked if flow == _RECEIVABLE else nothing
            if kind != _REVERSAL and rule_id is not None:
                best = rule_id if best is None else max(best, rule_id)
            margin = (
                None if amount is None or cost is None else amount - cost - payable + receivable
            )
            made = out[-1]
            made.update(payable=cents(payable), receivable=cents(receivable),
                        net_margin=cents(margin))  # fmt: skip
            if best is not None:
                unruled.pop(len(out) - 1, None)
                made["rule"] = names.get(best) or names.setdefault(best, f"#{best}")
            continue
        last_id = deal_id
        payable = booked if flow == _PAYABLE else nothing
        receivable = booked if flow == _RECEIVABLE else nothing
        best = rule_id if kind != _REVERSAL else None
        currency = currency or default_currency or None
        closed = to_date(closed)
        cents = rounders.get(currency) or rounders.setdefault(currency, _rounding(currency, sqlite))
        zero = zeros.get(currency)
        if zero is None:
            zero = zeros[currency] = cents(nothing)
        margin = None if amount is None or cost is None else amount - cost - payable + receivable
        if best is None:
            unruled[len(out)] = [partner, amount, cost, paid_amount, paid_date, practice,
                                 direction]  # fmt: skip
        out.append({
            "crm": crm, "crm_id": crm_id, "name": name, "partner_id": partner,
            "close_date": closed, "currency": currency, "amount": cents(amount),
            "cost": cents(cost), "payable": cents(payable) if payable else zero,
            "receivable": cents(receivable) if receivable else zero,
            "net_margin": cents(margin),
            "rule": None if best is None else names.get(best) or names.setdefault(best, f"#{best}"),
        })  # fmt: skip
    if unruled:
        # The rules of those deals' partners, once: only to say why a deal has none.
        rules = partner_rules(session, {facts[0] for facts in unruled.values() if facts[0]})
        to_money = _from_scaled if sqlite else _same
        for at, (partner, *why) in unruled.items():
            made = out[at]
            deal_rules = rules.get(partner or "", ())
            made["rule"] = _why_unruled(made["currency"], made["close_date"], why, deal_rules,
                                        to_date, to_money)  # fmt: skip
    out.sort(key=itemgetter("close_date"))  # stable: deals closed the same day by id
    return out


def _why_unruled(
    currency: str | None, closed: date, why: list[Any], rules: Any, to_date: Any, to_money: Any
) -> str:
    """Why a won deal has no ledger rows: ``no_rule``, ``no_cost`` and the like, or
    ``zero`` when its commission rounds to nothing (the facts in the store's raw forms)."""
    amount, cost, paid_amount, paid_date, practice, direction = why
    facts = Deal(
        currency=currency, amount=to_money(amount), cost=to_money(cost),
        paid_amount=to_money(paid_amount),
        paid_date=None if paid_date is None else to_date(paid_date), close_date=closed,
        won=True, deleted=False, practice=practice,
        direction=None if direction is None else CoSellDirection(direction),
    )  # fmt: skip
    due = commission(facts, rules)
    return due.outcome.value if due.outcome is not Outcome.ACCRUE else "zero"


def _same(value: Any) -> Any:
    return value


def _dates() -> Callable[[str | None], date | None]:
    """SQLite's date text as dates, each distinct text parsed once (a year has 365)."""
    parsed: dict[str, date] = {}

    def to_date(text: str | None) -> date | None:
        if text is None:
            return None
        day = parsed.get(text)
        if day is None:
            day = parsed[text] = date.fromisoformat(text)
        return day

    return to_date


def _from_scaled(value: int | None) -> Decimal | None:
    """SQLite's stored money (the amount x 10^4) as the ``Decimal`` it stands for."""
    return None if value is None else Decimal(value).scaleb(-4)


@cache
def _rounding(currency: str | None, scaled: bool) -> Callable[[Any], Decimal | None]:
    """A stored amount to a ``Decimal`` in ``currency``'s minor unit, rounded half-up
    (:func:`sync.ledger.shown`); ``scaled``: the store gave the integer it keeps on
    SQLite (the amount x 10^4). An unknown currency keeps the store's four places."""
    places = minor_units(currency) if currency and known_currency(currency) else 4
    if not scaled:
        if places == 4:
            return lambda amount: None if amount is None else Decimal(amount)
        quantum = Decimal(1).scaleb(-places)
        return lambda amount: None if amount is None else amount.quantize(quantum, ROUND_HALF_UP)
    step, unit = 10 ** (4 - places), Decimal(1).scaleb(-places)
    half, zero = step // 2, Decimal(0).scaleb(-places)

    def rounded(amount: int | None) -> Decimal | None:
        if not amount:
            return None if amount is None else zero
        whole = (amount + half) // step if amount >= 0 else -((half - amount) // step)
        return Decimal(whole) * unit  # exact, with the unit's places (as scaleb: faster)

    return rounded


def commission_received(
    session: Session, year: int, partner_id: str | None, today: date, **_: Any
) -> list[dict[str, Any]]:
    expected = _sum_when(Payout.status != _S.REVERSED)
    received = _sum_when(Payout.status == _S.PAID)
    query = (
        select(Payout.partner_id, Payout.currency, expected.label("expected"),
               received.label("received"), (expected - received).label("outstanding"))
        .where(Payout.flow == MoneyFlow.RECEIVABLE, _year(Payout.due_on, year))
        .group_by(Payout.partner_id, Payout.currency)
        .order_by(Payout.partner_id, Payout.currency)
    )  # fmt: skip
    rows = session.execute(_partner(query, Payout.partner_id, partner_id))
    return _money_rows(rows, ("expected", "received", "outstanding"))


def combined_revenue(
    session: Session, year: int, partner_id: str | None, today: date, default_currency: str
) -> list[dict[str, Any]]:
    if session.get_bind().dialect.name == "sqlite":
        month = func.strftime("%Y-%m", Opportunity.close_date)
    else:
        month = func.to_char(Opportunity.close_date, "YYYY-MM")
    direction = Opportunity.direction
    sourced = direction.in_([CoSellDirection.PARTNER_SOURCED_PARTNER_SOLD,
                             CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD])  # fmt: skip
    amount = func.coalesce(Opportunity.amount, 0)
    direct = and_(Opportunity.partner_id.is_(None), Opportunity.partner_ref.is_(None))
    currency = func.coalesce(Opportunity.currency, literal(default_currency or "?"))
    query = (
        select(
            month.label("month"),
            currency.label("currency"),
            _sum_when(direct, amount).label("direct"),
            _sum_when(and_(~direct, sourced), amount).label("partner_sourced"),
            _sum_when(
                and_(~direct, direction == CoSellDirection.DIRECT_SOURCED_PARTNER_SOLD), amount
            ).label("direct_sourced_partner_sold"),
            _sum_when(and_(~direct, direction.is_(None)), amount).label("partner_other"),
            func.sum(amount).label("total"),
        )
        .where(
            Opportunity.is_won.is_(True),
            Opportunity.deleted.is_(False),
            _year(Opportunity.close_date, year),
        )
        .group_by(month, currency)
        .order_by(month, currency)
    )
    rows = session.execute(_partner(query, Opportunity.partner_id, partner_id))
    return _money_rows(rows, ("direct", "partner_sourced", "direct_sourced_partner_sold",
                              "partner_other", "total"))  # fmt: skip


def payouts_by_status(
    session: Session, year: int, partner_id: str | None, today: date, **_: Any
) -> list[dict[str, Any]]:
    query = (
        select(Payout.status, Payout.currency, Payout.flow, func.count().label("payouts"),
               func.sum(Payout.amount).label("amount"))
        .where(_year(Payout.due_on, year))
        .group_by(Payout.status, Payout.currency, Payout.flow)
        .order_by(Payout.status, Payout.currency, Payout.flow)
    )  # fmt: skip
    rows = session.execute(_partner(query, Payout.partner_id, partner_id))
    return _money_rows(rows, ("amount",))


REPORTS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "payouts-by-partner": payouts_by_partner,
    "ytd-summary": ytd_summary,
    "deal-profitability": deal_profitability,
    "commission-received": commission_received,
    "combined-revenue": combined_revenue,
    "payouts-by-status": payouts_by_status,
}


def run_report(
    factory: sessionmaker[Session],
    name: str,
    *,
    year: int | None = None,
    partner_id: str | None = None,
    default_currency: str = "",
    today: date | None = None,
) -> list[dict[str, Any]]:
    """The rows of report ``name`` for ``year`` (default: this year)."""
    report = REPORTS.get(name)
    if report is None:
        raise ProgramError(
            f"no report {name!r} (reports: {', '.join(REPORTS)})", code="unknown_report",
            field="name",
        )  # fmt: skip
    today = today or datetime.now(UTC).date()
    year = year if year is not None else today.year
    if not 1900 <= year <= 9998:
        raise ProgramError(f"year: 1900 to 9998 (got {year})", field="year")
    if partner_id is not None:
        checked_id(partner_id, "partner")
    with factory() as session:
        return report(session, year=year, partner_id=partner_id, today=today,
                      default_currency=default_currency)  # fmt: skip
