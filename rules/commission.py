"""Commissions: agreement terms, the rule a deal falls under, the arithmetic, and the
ledger moves that bring a deal's net to what its rule says.

Pure: plain values in, plain values out; no store, no clock.

- :func:`parse_agreement` reads an agreement file's table (DESIGN.md's format) into
  :class:`AgreementTerms`; every error names the file, the rule index and the key
  (``agreements/acme.toml: rules[2].percent: not a number ('ten')``), and rules of the
  same practice and direction whose effective ranges overlap are refused.
- :func:`resolve` picks the rule of a deal: its direction, its practice exactly (case
  aside) before ``*``, in force on the trigger date (the close date for ``closed_won``,
  the paid date for ``paid``). Effective ranges are half-open: ``effective_from`` inclusive,
  ``effective_to`` exclusive.
- :func:`commission` computes clamp(basis x percent / 100, floor, ceiling) in ``Decimal``
  and rounds half-up once, at the end, to the minor unit of the deal's currency (from
  Babel's CLDR table: JPY 0, USD 2, BHD 3). A deal with nothing to accrue says why:
  ``not_won``, ``deleted``, ``no_direction``, ``no_rule``, ``no_cost`` (a margin basis
  without a cost is not 0), ``not_paid`` (a ``paid`` trigger without a paid amount and
  date), ``no_currency``.
- :func:`corrections` compares what a deal's ledger holds with what its commission is
  and returns only the rows that correct it: an ``accrual`` where nothing stands, an
  ``adjustment`` for a changed amount, ``reversal`` rows negating every standing entry
  when the deal no longer earns (reopened, lost, deleted) or earns under another rule.
  Each move carries its idempotency key (deal, rule row, kind, version), so two workers
  computing the same correction write it once. A rule whose payout a person reversed is
  waived for the deal: never accrued again by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Any, TypeVar

from babel.numbers import get_currency_precision, is_currency

from rules.vocabulary import AccrualTrigger, CoSellDirection, LedgerKind, MoneyFlow, RuleBasis

__all__ = [
    "ANY_PRACTICE",
    "AgreementError",
    "AgreementTerms",
    "Commission",
    "Deal",
    "Entry",
    "Move",
    "Outcome",
    "RuleTerms",
    "commission",
    "corrections",
    "minor_units",
    "net",
    "parse_agreement",
    "resolve",
    "round_money",
]

ANY_PRACTICE = "*"
_E = TypeVar("_E", bound=StrEnum)
_PERCENT_MAX = Decimal(1000)
_RULE_KEYS = frozenset({
    "practice", "direction", "basis", "percent", "floor", "ceiling", "flow", "trigger",
    "payout_delay_days", "effective_from", "effective_to",
})  # fmt: skip
_AGREEMENT_KEYS = frozenset({"partner", "name", "effective_from", "effective_to", "rules"})


class AgreementError(ValueError):
    """An agreement file (or an amendment) that cannot be taken: the message names the
    file, the rule and the key."""


@dataclass(frozen=True)
class RuleTerms:
    """One commission rule. ``id`` and ``version`` (of its agreement) are 0 until stored."""

    practice: str
    direction: CoSellDirection
    basis: RuleBasis
    percent: Decimal
    flow: MoneyFlow
    trigger: AccrualTrigger
    effective_from: date
    effective_to: date | None = None
    floor: Decimal | None = None
    ceiling: Decimal | None = None
    payout_delay_days: int = 0
    id: int = 0
    version: int = 0

    def in_force(self, on: date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)

    def overlaps(self, other: RuleTerms) -> bool:
        far = date.max
        return self.effective_from < (other.effective_to or far) and other.effective_from < (
            self.effective_to or far
        )

    @property
    def same_terms(self) -> tuple[Any, ...]:
        """What a rule says, without its dates and identity: an edit changes these."""
        return (self.practice, self.direction, self.basis, self.percent, self.floor,
                self.ceiling, self.flow, self.trigger, self.payout_delay_days)  # fmt: skip


@dataclass(frozen=True)
class AgreementTerms:
    partner: str
    name: str
    effective_from: date
    rules: tuple[RuleTerms, ...]
    effective_to: date | None = None


# --- the agreement file -------------------------------------------------------------------


def _date(value: Any, where: str) -> date:
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise AgreementError(f"{where}: not a date YYYY-MM-DD ({value!r})")


def _decimal(value: Any, where: str, *, minimum: Decimal = Decimal(0)) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        hint = ""
        if isinstance(value, float):
            hint = " (write decimals as strings: floats are not exact)"
        raise AgreementError(f"{where}: not a number ({value!r}){hint}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise AgreementError(f"{where}: not a number ({value!r})") from None
    if not number.is_finite():
        raise AgreementError(f"{where}: not a number ({value!r})")
    if number < minimum:
        raise AgreementError(f"{where}: must be at least {minimum} ({value!r})")
    return number


def _choice(kind: type[_E], value: Any, where: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise AgreementError(f"{where}: {value!r} is not one of {known}") from None


def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise AgreementError(f"{where}: must be a non-empty string ({value!r})")
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise AgreementError(f"{where}: at most {limit} printable characters")
    return value.strip()


def _rule(raw: Any, where: str, starts: date, ends: date | None) -> RuleTerms:
    if not isinstance(raw, Mapping):
        raise AgreementError(f"{where}: must be a table")
    unknown = sorted(set(raw) - _RULE_KEYS)
    if unknown:
        raise AgreementError(
            f"{where}.{unknown[0]}: unknown key (known: {', '.join(sorted(_RULE_KEYS))})"
        )
    for key in ("practice", "direction", "basis", "percent", "flow", "trigger"):
        if key not in raw:
            raise AgreementError(f"{where}.{key}: missing")
    percent = _decimal(raw["percent"], f"{where}.percent")
    if percent > _PERCENT_MAX:
        raise AgreementError(f"{where}.percent: at most {_PERCENT_MAX} ({raw['percent']!r})")
    floor = _decimal(raw["floor"], f"{where}.floor") if "floor" in raw else None
    ceiling = _decimal(raw["ceiling"], f"{where}.ceiling") if "ceiling" in raw else None
    if floor is not None and ceiling is not None and ceiling < floor:
        raise AgreementError(f"{where}.ceiling: below the floor ({ceiling} < {floor})")
    delay = raw.get("payout_delay_days", 0)
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= 3650:
        raise AgreementError(f"{where}.payout_delay_days: a whole number 0-3650 ({delay!r})")
    effective_from = _date(raw.get("effective_from", starts), f"{where}.effective_from")
    effective_to = raw.get("effective_to", ends)
    if effective_to is not None:
        effective_to = _date(effective_to, f"{where}.effective_to")
        if effective_to < effective_from:
            raise AgreementError(
                f"{where}.effective_to: before effective_from ({effective_to} < {effective_from})"
            )
    return RuleTerms(
        practice=_text(raw["practice"], f"{where}.practice", 100),
        direction=_choice(CoSellDirection, raw["direction"], f"{where}.direction"),
        basis=_choice(RuleBasis, raw["basis"], f"{where}.basis"),
        percent=percent,
        flow=_choice(MoneyFlow, raw["flow"], f"{where}.flow"),
        trigger=_choice(AccrualTrigger, raw["trigger"], f"{where}.trigger"),
        effective_from=effective_from,
        effective_to=effective_to,
        floor=floor,
        ceiling=ceiling,
        payout_delay_days=delay,
    )


def parse_agreement(data: Mapping[str, Any], source: str) -> AgreementTerms:
    """An agreement file's table (as ``tomllib`` reads it) as terms; ``source`` (the
    file's name) starts every error message."""
    unknown = sorted(set(data) - _AGREEMENT_KEYS)
    if unknown:
        known = ", ".join(sorted(_AGREEMENT_KEYS))
        raise AgreementError(f"{source}: {unknown[0]}: unknown key (known: {known})")
    for key in ("partner", "name", "effective_from", "rules"):
        if key not in data:
            raise AgreementError(f"{source}: {key}: missing")
    partner = _text(data["partner"], f"{source}: partner", 32)
    name = _text(data["name"], f"{source}: name", 255)
    starts = _date(data["effective_from"], f"{source}: effective_from")
    ends = data.get("effective_to")
    if ends is not None:
        ends = _date(ends, f"{source}: effective_to")
        if ends < starts:
            raise AgreementError(f"{source}: effective_to: before effective_from")
    raw_rules = data["rules"]
    if not isinstance(raw_rules, list) or not raw_rules:
        raise AgreementError(f"{source}: rules: at least one [[rules]] table")
    rules = tuple(
        _rule(raw, f"{source}: rules[{index}]", starts, ends) for index, raw in enumerate(raw_rules)
    )
    overlap = first_overlap(rules)
    if overlap is not None:
        a, b = overlap
        raise AgreementError(
            f"{source}: rules[{b}]: overlaps rules[{a}] (practice {rules[b].practice!r}, "
            f"direction {rules[b].direction.value}, {_span(rules[a])} and {_span(rules[b])})"
        )
    return AgreementTerms(partner, name, starts, rules, ends)


def _span(rule: RuleTerms) -> str:
    return f"{rule.effective_from} to {rule.effective_to or 'open'}"


def first_overlap(rules: Sequence[RuleTerms]) -> tuple[int, int] | None:
    """The first two rules (by index) of the same practice and direction in force on a
    common day, or ``None``."""
    for b, later in enumerate(rules):
        for a in range(b):
            earlier = rules[a]
            same_practice = earlier.practice.casefold() == later.practice.casefold()
            if same_practice and earlier.direction is later.direction and earlier.overlaps(later):
                return a, b
    return None


# --- money ----------------------------------------------------------------------------------


@cache
def minor_units(currency: str) -> int:
    """Digits after the decimal point of ``currency`` (ISO 4217, CLDR's table)."""
    return int(get_currency_precision(currency.upper()))


@cache
def known_currency(currency: str) -> bool:
    return is_currency(currency.upper())


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half-up to ``currency``'s minor unit."""
    return amount.quantize(_minor_unit(currency), rounding=ROUND_HALF_UP)


@cache
def _minor_unit(currency: str) -> Decimal:
    """``currency``'s minor unit as a ``Decimal`` (``0.01``), made once per currency."""
    return Decimal(1).scaleb(-minor_units(currency))


# --- resolution and arithmetic ----------------------------------------------------------------


@dataclass(frozen=True)
class Deal:
    """What a deal's commission depends on, as mirrored."""

    currency: str | None
    amount: Decimal | None = None
    cost: Decimal | None = None
    paid_amount: Decimal | None = None
    paid_date: date | None = None
    close_date: date | None = None
    won: bool = False
    deleted: bool = False
    practice: str | None = None
    direction: CoSellDirection | None = None


class Outcome(StrEnum):
    ACCRUE = "accrue"
    NOT_WON = "not_won"
    DELETED = "deleted"
    NO_DIRECTION = "no_direction"
    NO_RULE = "no_rule"
    NO_COST = "no_cost"
    NOT_PAID = "not_paid"
    NO_CURRENCY = "no_currency"
    NO_PARTNER = "no_partner"


@dataclass(frozen=True)
class Commission:
    """A deal's commission and how it was reached (``commissions explain``)."""

    outcome: Outcome
    rule: RuleTerms | None = None
    currency: str | None = None
    trigger_date: date | None = None
    basis_amount: Decimal | None = None
    raw: Decimal | None = None  # basis x percent / 100, unrounded
    clamped: Decimal | None = None  # raw within floor and ceiling, unrounded
    amount: Decimal = Decimal(0)  # clamped, rounded to the currency's minor unit

    @property
    def accrues(self) -> bool:
        return self.outcome is Outcome.ACCRUE

    @property
    def due_on(self) -> date | None:
        if self.rule is None or self.trigger_date is None:
            return None
        return self.trigger_date + timedelta(days=self.rule.payout_delay_days)


def trigger_date(rule: RuleTerms, deal: Deal) -> date | None:
    if rule.trigger is AccrualTrigger.PAID:
        return deal.paid_date if deal.paid_amount is not None else None
    return deal.close_date


def resolve(rules: Iterable[RuleTerms], deal: Deal) -> RuleTerms | None:
    """The rule ``deal`` falls under: its direction, its practice exactly before ``*``, in
    force on its trigger date; ``None`` when there is none."""
    if deal.direction is None:
        return None
    candidates = [rule for rule in rules if rule.direction is deal.direction]
    for practice in (deal.practice, ANY_PRACTICE):
        if practice is None:
            continue
        for rule in candidates:
            if rule.practice.casefold() != practice.casefold():
                continue
            when = trigger_date(rule, deal)
            if when is not None and rule.in_force(when):
                return rule
    return None


def _waiting(rules: Iterable[RuleTerms], deal: Deal) -> bool:
    """Whether a ``paid`` rule of the deal's practice and direction waits for a payment."""
    return any(
        rule.trigger is AccrualTrigger.PAID
        and rule.direction is deal.direction
        and rule.practice.casefold() in ((deal.practice or "").casefold(), ANY_PRACTICE)
        for rule in rules
    )


def commission(deal: Deal, rules: Iterable[RuleTerms]) -> Commission:
    """What ``deal`` earns under ``rules`` (its partner's, every version)."""
    if deal.deleted:
        return Commission(Outcome.DELETED)
    if not deal.won:
        return Commission(Outcome.NOT_WON)
    if deal.direction is None:
        return Commission(Outcome.NO_DIRECTION)
    rules = tuple(rules)
    rule = resolve(rules, deal)
    if rule is None:
        return Commission(Outcome.NOT_PAID if _waiting(rules, deal) and deal.paid_amount is None
                          else Outcome.NO_RULE)  # fmt: skip
    when = trigger_date(rule, deal)
    if not deal.currency or not known_currency(deal.currency):
        return Commission(Outcome.NO_CURRENCY, rule, deal.currency, when)
    currency = deal.currency.upper()
    if rule.basis is RuleBasis.AMOUNT:
        basis = deal.amount if deal.amount is not None else Decimal(0)
    elif rule.basis is RuleBasis.MARGIN:
        if deal.cost is None:
            return Commission(Outcome.NO_COST, rule, currency, when)
        basis = (deal.amount if deal.amount is not None else Decimal(0)) - deal.cost
    else:
        basis = deal.paid_amount if deal.paid_amount is not None else Decimal(0)
    raw = basis * rule.percent / 100
    clamped = raw
    if rule.floor is not None and clamped < rule.floor:
        clamped = rule.floor
    if rule.ceiling is not None and clamped > rule.ceiling:
        clamped = rule.ceiling
    return Commission(Outcome.ACCRUE, rule, currency, when, basis, raw, clamped,
                      round_money(clamped, currency))  # fmt: skip


# --- the ledger -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A ledger row of one deal, as stored."""

    id: int
    kind: LedgerKind
    amount: Decimal
    currency: str
    rule_id: int | None
    flow: MoneyFlow
    reverses: int | None = None
    key: str = ""
    #: A reversal a person decided (a payout reversed by hand): the deal's rule is not
    #: accrued again by itself, whatever the deal does next.
    waived: bool = False


@dataclass(frozen=True)
class Move:
    """A ledger row to write."""

    kind: LedgerKind
    amount: Decimal
    currency: str
    rule_id: int | None
    flow: MoneyFlow
    key: str
    basis_amount: Decimal | None = None
    reverses: int | None = None
    reason: str | None = None


def net(entries: Iterable[Entry]) -> dict[tuple[str, MoneyFlow], Decimal]:
    """A deal's ledger net by currency and flow."""
    totals: dict[tuple[str, MoneyFlow], Decimal] = {}
    for entry in entries:
        slot = (entry.currency, entry.flow)
        totals[slot] = totals.get(slot, Decimal(0)) + entry.amount
    return totals


def standing(entries: Sequence[Entry]) -> list[Entry]:
    """Accruals and adjustments no reversal has negated yet."""
    reversed_ids = {entry.reverses for entry in entries if entry.kind is LedgerKind.REVERSAL}
    return [e for e in entries if e.kind is not LedgerKind.REVERSAL and e.id not in reversed_ids]


def _why(deal_outcome: Outcome) -> str:
    return {
        Outcome.NOT_WON: "deal no longer closed-won",
        Outcome.DELETED: "deal deleted in the CRM",
        Outcome.NO_RULE: "no rule applies any more",
        Outcome.NO_DIRECTION: "deal has no co-sell direction any more",
        Outcome.NO_COST: "deal has no cost any more",
        Outcome.NOT_PAID: "deal has no paid amount any more",
        Outcome.NO_CURRENCY: "deal has no known currency any more",
        Outcome.NO_PARTNER: "deal has no partner any more",
    }.get(deal_outcome, deal_outcome.value)


def corrections(deal_ref: str | int, due: Commission, entries: Sequence[Entry]) -> list[Move]:
    """The rows that bring the ledger of deal ``deal_ref`` (``entries``, all of its rows)
    to ``due``; none when it already stands there. The keys are versioned by how many
    rows of the kind the deal's rule already has, so a replay finds its row taken."""
    live = standing(entries)
    target = due.rule.id if due.accrues and due.rule is not None else None
    moves: list[Move] = []
    reason = (
        f"rule changed to #{target}" if due.accrues else _why(due.outcome)
    )  # what the reversals say
    kept = [e for e in live
            if target is not None and e.rule_id == target and e.currency == due.currency
            and due.rule is not None and e.flow is due.rule.flow]  # fmt: skip
    for entry in live:
        if entry in kept:
            continue
        moves.append(Move(LedgerKind.REVERSAL, -entry.amount, entry.currency, entry.rule_id,
                          entry.flow, f"reversal:{deal_ref}:entry:{entry.id}",
                          reverses=entry.id, reason=reason))  # fmt: skip
    if not due.accrues or due.rule is None or due.currency is None:
        return moves
    rule = due.rule
    if any(e.waived and e.rule_id == rule.id for e in entries):
        return moves
    held = sum((e.amount for e in kept), Decimal(0))
    if held == due.amount and (kept or due.amount == 0):
        return moves
    count = 1 + sum(1 for e in entries if e.rule_id == rule.id and e.kind is (
        LedgerKind.ADJUSTMENT if kept else LedgerKind.ACCRUAL))  # fmt: skip
    if kept:
        kind, amount = LedgerKind.ADJUSTMENT, due.amount - held
    else:
        kind, amount = LedgerKind.ACCRUAL, due.amount
    moves.append(Move(kind, amount, due.currency, rule.id, rule.flow,
                      f"{kind.value}:{deal_ref}:rule:{rule.id}:v{rule.version}:{count}",
                      basis_amount=due.basis_amount))  # fmt: skip
    return moves


def settle(terms: AgreementTerms, version: int) -> AgreementTerms:
    """``terms`` stamped with their agreement ``version`` (rule ids stay 0 until stored)."""
    return replace(terms, rules=tuple(replace(rule, version=version) for rule in terms.rules))
