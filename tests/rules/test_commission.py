"""rules.commission: agreement files, rule resolution, the arithmetic, ledger corrections."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.commission import (
    AgreementError,
    Deal,
    Entry,
    Outcome,
    RuleTerms,
    commission,
    corrections,
    minor_units,
    net,
    parse_agreement,
    resolve,
    round_money,
)
from rules.vocabulary import AccrualTrigger, CoSellDirection, LedgerKind, MoneyFlow, RuleBasis

PSDS = CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD
PSPS = CoSellDirection.PARTNER_SOURCED_PARTNER_SOLD
D = Decimal


def rule(**changes: Any) -> RuleTerms:
    base = RuleTerms(practice="*", direction=PSDS, basis=RuleBasis.AMOUNT, percent=D(10),
                     flow=MoneyFlow.PAYABLE, trigger=AccrualTrigger.CLOSED_WON,
                     effective_from=date(2026, 1, 1), id=1, version=1)  # fmt: skip
    return replace(base, **changes)


def deal(**changes: Any) -> Deal:
    base = Deal(currency="USD", amount=D(1000), close_date=date(2026, 2, 1), won=True,
                practice="cloud", direction=PSDS)  # fmt: skip
    return replace(base, **changes)


# --- arithmetic -------------------------------------------------------------------------------

ARITHMETIC = [
    # (what, rule changes, deal changes, expected amount)
    ("plain percent", {}, {}, "100.00"),
    ("floor lifts", {"floor": D(150)}, {}, "150.00"),
    ("ceiling caps", {"ceiling": D(50)}, {}, "50.00"),
    ("inside floor and ceiling", {"floor": D(10), "ceiling": D(500)}, {}, "100.00"),
    ("zero amount", {}, {"amount": D(0)}, "0.00"),
    ("zero amount, floor", {"floor": D(25)}, {"amount": D(0)}, "25.00"),
    ("negative amount (credit)", {}, {"amount": D(-200)}, "-20.00"),
    ("negative amount, floor", {"floor": D(0)}, {"amount": D(-200)}, "0.00"),
    ("no amount is zero", {}, {"amount": None}, "0.00"),
    ("half a cent rounds up", {"percent": D(1)}, {"amount": D("0.5")}, "0.01"),
    ("just under half a cent", {"percent": D(1)}, {"amount": D("0.4999")}, "0.00"),
    ("negative half a cent rounds away", {"percent": D(1)}, {"amount": D("-0.5")}, "-0.01"),
    ("rounded once, at the end", {"percent": D("33.3333")}, {"amount": D("0.15")}, "0.05"),
    ("percent with 4 decimals", {"percent": D("12.3456")}, {"amount": D(10000)}, "1234.56"),
    ("JPY has no minor unit", {"percent": D("7.5")}, {"currency": "JPY", "amount": D(1010)},
     "76"),
    ("JPY half rounds up", {"percent": D(1)}, {"currency": "JPY", "amount": D(50)}, "1"),
    ("BHD has three", {"percent": D("2.5")}, {"currency": "BHD", "amount": D("100.005")},
     "2.500"),
    ("BHD half a fils", {"percent": D(1)}, {"currency": "BHD", "amount": D("0.05")}, "0.001"),
    ("lower-case currency", {}, {"currency": "eur"}, "100.00"),
    ("margin", {"basis": RuleBasis.MARGIN}, {"cost": D(600)}, "40.00"),
    ("negative margin", {"basis": RuleBasis.MARGIN}, {"cost": D(1600)}, "-60.00"),
    ("margin with zero cost", {"basis": RuleBasis.MARGIN}, {"cost": D(0)}, "100.00"),
    ("paid basis", {"basis": RuleBasis.PAID}, {"paid_amount": D(400)}, "40.00"),
    ("paid trigger", {"basis": RuleBasis.PAID, "trigger": AccrualTrigger.PAID},
     {"paid_amount": D(400), "paid_date": date(2026, 3, 1)}, "40.00"),
    ("percent zero", {"percent": D(0)}, {}, "0.00"),
    ("ceiling zero", {"ceiling": D(0)}, {}, "0.00"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule_changes", "deal_changes", "expected"),
    [case[1:] for case in ARITHMETIC],
    ids=[case[0] for case in ARITHMETIC],
)
def test_arithmetic(rule_changes: dict[str, Any], deal_changes: dict[str, Any], expected: str):
    due = commission(deal(**deal_changes), [rule(**rule_changes)])
    assert due.outcome is Outcome.ACCRUE
    assert str(due.amount) == expected
    assert due.amount.as_tuple().exponent == -minor_units(due.currency or "")


NOTHING = [
    ("not won", {}, {"won": False}, Outcome.NOT_WON),
    ("deleted", {}, {"deleted": True}, Outcome.DELETED),
    ("no direction", {}, {"direction": None}, Outcome.NO_DIRECTION),
    ("other direction", {}, {"direction": PSPS}, Outcome.NO_RULE),
    ("other practice", {"practice": "security"}, {}, Outcome.NO_RULE),
    ("closed before the rule", {}, {"close_date": date(2025, 12, 31)}, Outcome.NO_RULE),
    ("no close date", {}, {"close_date": None}, Outcome.NO_RULE),
    ("margin without cost is not 0", {"basis": RuleBasis.MARGIN}, {"cost": None},
     Outcome.NO_COST),
    ("paid trigger, nothing paid", {"trigger": AccrualTrigger.PAID, "basis": RuleBasis.PAID},
     {}, Outcome.NOT_PAID),
    ("no currency", {}, {"currency": None}, Outcome.NO_CURRENCY),
    ("unknown currency", {}, {"currency": "ZZZ"}, Outcome.NO_CURRENCY),
]  # fmt: skip


@pytest.mark.parametrize(
    ("rule_changes", "deal_changes", "outcome"),
    [case[1:] for case in NOTHING],
    ids=[case[0] for case in NOTHING],
)
def test_nothing_to_accrue_says_why(
    rule_changes: dict[str, Any], deal_changes: dict[str, Any], outcome: Outcome
):
    due = commission(deal(**deal_changes), [rule(**rule_changes)])
    assert due.outcome is outcome
    assert due.amount == 0


def test_the_computation_is_kept_for_explaining():
    due = commission(deal(amount=D("1234.565")), [rule(percent=D(10), ceiling=D(100))])
    assert (due.basis_amount, due.raw, due.clamped, due.amount) == (
        D("1234.565"), D("123.4565"), D(100), D("100.00"))  # fmt: skip
    assert due.trigger_date == date(2026, 2, 1)


def test_due_on_adds_the_payout_delay():
    due = commission(deal(), [rule(payout_delay_days=30)])
    assert due.due_on == date(2026, 3, 3)


def test_minor_units_come_from_cldr():
    assert [minor_units(c) for c in ("JPY", "USD", "EUR", "BHD", "KWD", "CLF")] == [
        0, 2, 2, 3, 3, 4]  # fmt: skip
    assert round_money(D("2.675"), "USD") == D("2.68")  # a float would give 2.67


# --- resolution -------------------------------------------------------------------------------


def test_exact_practice_beats_the_wildcard():
    star, exact = rule(id=1), rule(id=2, practice="cloud", percent=D(20))
    assert resolve([star, exact], deal()) == exact
    assert resolve([star, exact], deal(practice="data")) == star
    assert resolve([star, exact], deal(practice=None)) == star


def test_an_exact_rule_out_of_force_falls_back_to_the_wildcard():
    star = rule(id=1)
    exact = rule(id=2, practice="cloud", effective_from=date(2026, 6, 1))
    assert resolve([star, exact], deal()) == star


def test_effective_dating_a_rule_edited_on_1_march():
    old = rule(id=1, effective_to=date(2026, 3, 1))
    new = rule(id=2, percent=D(12), effective_from=date(2026, 3, 1))
    feb = deal(close_date=date(2026, 2, 28))
    mar = deal(close_date=date(2026, 3, 1))
    assert commission(feb, [old, new]).rule == old
    assert commission(feb, [old, new]).amount == D("100.00")
    assert commission(mar, [old, new]).rule == new
    assert commission(mar, [old, new]).amount == D("120.00")


def test_the_paid_trigger_is_dated_by_the_payment():
    old = rule(id=1, trigger=AccrualTrigger.PAID, basis=RuleBasis.PAID,
               effective_to=date(2026, 3, 1))  # fmt: skip
    new = replace(old, id=2, percent=D(20), effective_from=date(2026, 3, 1), effective_to=None)
    paid = deal(close_date=date(2026, 1, 15), paid_amount=D(500), paid_date=date(2026, 3, 2))
    assert commission(paid, [old, new]).rule == new
    assert commission(paid, [old, new]).trigger_date == date(2026, 3, 2)


# --- the agreement file ---------------------------------------------------------------------


def agreement(**rule_changes: Any) -> dict[str, Any]:
    first = {"practice": "*", "direction": "partner_sourced_direct_sold", "basis": "amount",
             "percent": "10", "flow": "payable", "trigger": "closed_won"}  # fmt: skip
    return {"partner": "ACME", "name": "ACME reseller", "effective_from": date(2026, 1, 1),
            "rules": [dict(first, practice="security"), {**first, **rule_changes}]}  # fmt: skip


def test_an_agreement_file_parses():
    terms = parse_agreement(agreement(floor="100", ceiling=5000, payout_delay_days=30), "acme.toml")
    assert terms.partner == "ACME"
    assert len(terms.rules) == 2
    second = terms.rules[1]
    assert (second.percent, second.floor, second.ceiling) == (D(10), D(100), D(5000))
    assert second.effective_from == date(2026, 1, 1)
    assert second.effective_to is None
    assert second.payout_delay_days == 30


BAD_FILES = [
    ({"percent": "ten"}, "acme.toml: rules[1].percent: not a number ('ten')"),
    ({"percent": 10.5}, "acme.toml: rules[1].percent: not a number (10.5) (write decimals"),
    ({"percent": "-1"}, "acme.toml: rules[1].percent: must be at least 0"),
    ({"percent": "NaN"}, "acme.toml: rules[1].percent: not a number ('NaN')"),
    ({"percent": True}, "acme.toml: rules[1].percent: not a number (True)"),
    ({"floor": "x"}, "acme.toml: rules[1].floor: not a number ('x')"),
    ({"floor": "10", "ceiling": "5"}, "acme.toml: rules[1].ceiling: below the floor"),
    ({"basis": "revenue"}, "acme.toml: rules[1].basis: 'revenue' is not one of amount"),
    ({"direction": "sideways"}, "acme.toml: rules[1].direction: 'sideways' is not one of"),
    ({"flow": "out"}, "acme.toml: rules[1].flow: 'out' is not one of payable, receivable"),
    ({"trigger": "signed"}, "acme.toml: rules[1].trigger: 'signed' is not one of"),
    ({"payout_delay_days": -1}, "acme.toml: rules[1].payout_delay_days: a whole number"),
    ({"payout_delay_days": "30"}, "acme.toml: rules[1].payout_delay_days: a whole number"),
    ({"effective_from": "2026-13-01"}, "acme.toml: rules[1].effective_from: not a date"),
    ({"effective_to": date(2025, 1, 1)}, "acme.toml: rules[1].effective_to: before"),
    ({"percnt": "10"}, "acme.toml: rules[1].percnt: unknown key"),
    ({"practice": ""}, "acme.toml: rules[1].practice: must be a non-empty string"),
    ({"practice": "x\x00y"}, "acme.toml: rules[1].practice: at most 100 printable"),
    ({"practice": "security"}, "acme.toml: rules[1]: overlaps rules[0] (practice 'security'"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "message"), BAD_FILES)
def test_a_bad_file_names_the_rule_and_the_key(changes: dict[str, Any], message: str):
    with pytest.raises(AgreementError) as caught:
        parse_agreement(agreement(**changes), "acme.toml")
    assert str(caught.value).startswith(message)


def test_a_missing_rule_key_is_named():
    data = agreement()
    del data["rules"][1]["percent"]
    with pytest.raises(AgreementError, match=r"^acme.toml: rules\[1\].percent: missing$"):
        parse_agreement(data, "acme.toml")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"partner": None}, "acme.toml: partner: must be a non-empty string"),
        ({"rules": []}, "acme.toml: rules: at least one"),
        ({"rules": ["x"]}, r"acme.toml: rules\[0\]: must be a table"),
        ({"effective_from": "soon"}, "acme.toml: effective_from: not a date"),
        ({"signed": True}, "acme.toml: signed: unknown key"),
    ],
)
def test_a_bad_agreement_header_is_named(changes: dict[str, Any], message: str):
    with pytest.raises(AgreementError, match=message):
        parse_agreement({**agreement(), **changes}, "acme.toml")


def test_adjacent_ranges_do_not_overlap():
    data = agreement()
    data["rules"][0].update(practice="*", effective_to="2026-03-01")
    data["rules"][1].update(effective_from="2026-03-01")
    terms = parse_agreement(data, "acme.toml")
    assert terms.rules[0].effective_to == terms.rules[1].effective_from


# --- the ledger -------------------------------------------------------------------------------


def apply(entries: list[Entry], moves: list[Any]) -> list[Entry]:
    out = list(entries)
    for move in moves:
        out.append(Entry(len(out) + 1, move.kind, move.amount, move.currency, move.rule_id,
                         move.flow, move.reverses, move.key))  # fmt: skip
    return out


def test_first_accrual_then_nothing():
    due = commission(deal(), [rule()])
    moves = corrections(7, due, [])
    assert [(m.kind, m.amount, m.key) for m in moves] == [
        (LedgerKind.ACCRUAL, D("100.00"), "accrual:7:rule:1:v1:1")]  # fmt: skip
    assert corrections(7, due, apply([], moves)) == []


def test_a_changed_amount_is_adjusted_by_the_difference():
    entries = apply([], corrections(7, commission(deal(), [rule()]), []))
    moves = corrections(7, commission(deal(amount=D(1500)), [rule()]), entries)
    assert [(m.kind, m.amount) for m in moves] == [(LedgerKind.ADJUSTMENT, D("50.00"))]
    assert moves[0].key == "adjustment:7:rule:1:v1:1"


def test_a_lost_deal_reverses_every_standing_entry():
    entries = apply([], corrections(7, commission(deal(), [rule()]), []))
    entries = apply(entries, corrections(7, commission(deal(amount=D(1500)), [rule()]), entries))
    moves = corrections(7, commission(deal(won=False), [rule()]), entries)
    assert {(m.kind, m.amount, m.reverses) for m in moves} == {
        (LedgerKind.REVERSAL, D("-100.00"), 1),
        (LedgerKind.REVERSAL, D("-50.00"), 2),
    }
    assert all(m.reason == "deal no longer closed-won" for m in moves)
    assert net(apply(entries, moves)) == {("USD", MoneyFlow.PAYABLE): D("0.00")}


def test_a_rewon_deal_accrues_a_new_version():
    entries = apply([], corrections(7, commission(deal(), [rule()]), []))
    entries = apply(entries, corrections(7, commission(deal(won=False), [rule()]), entries))
    moves = corrections(7, commission(deal(), [rule()]), entries)
    assert [(m.kind, m.key) for m in moves] == [(LedgerKind.ACCRUAL, "accrual:7:rule:1:v1:2")]


def test_a_new_rule_reverses_the_old_rules_entries_and_accrues_under_it():
    entries = apply([], corrections(7, commission(deal(), [rule()]), []))
    moved = rule(id=2, practice="cloud", percent=D(20), version=2)
    moves = corrections(7, commission(deal(), [rule(), moved]), entries)
    assert [(m.kind, m.amount, m.rule_id) for m in moves] == [
        (LedgerKind.REVERSAL, D("-100.00"), 1),
        (LedgerKind.ACCRUAL, D("200.00"), 2),
    ]
    assert moves[0].reason == "rule changed to #2"


def test_a_zero_commission_writes_nothing():
    assert corrections(7, commission(deal(amount=D(0)), [rule()]), []) == []


def test_a_currency_change_reverses_and_accrues_anew():
    entries = apply([], corrections(7, commission(deal(), [rule()]), []))
    moves = corrections(7, commission(deal(currency="EUR"), [rule()]), entries)
    assert [(m.kind, m.currency) for m in moves] == [
        (LedgerKind.REVERSAL, "USD"),
        (LedgerKind.ACCRUAL, "EUR"),
    ]


# --- properties -------------------------------------------------------------------------------

EVENTS = st.one_of(
    st.tuples(st.just("amount"), st.decimals(min_value=-1000, max_value=10**7, places=2)),
    st.tuples(st.just("cost"), st.one_of(st.none(), st.decimals(min_value=0, max_value=10**6,
                                                                places=2))),
    st.tuples(st.just("paid"), st.decimals(min_value=0, max_value=10**6, places=2)),
    st.tuples(st.just("win"), st.just(None)),
    st.tuples(st.just("lose"), st.just(None)),
    st.tuples(st.just("reopen"), st.just(None)),
    st.tuples(st.just("delete"), st.just(None)),
    st.tuples(st.just("practice"), st.sampled_from(["cloud", "data"])),
    st.tuples(st.just("currency"), st.sampled_from(["USD", "JPY", "BHD"])),
)  # fmt: skip
RULES = [
    rule(id=1, floor=D(5), ceiling=D(50000)),
    rule(id=2, practice="cloud", basis=RuleBasis.MARGIN, percent=D("12.5")),
    rule(id=3, practice="data", basis=RuleBasis.PAID, trigger=AccrualTrigger.PAID,
         flow=MoneyFlow.RECEIVABLE, percent=D("3.3333")),
]  # fmt: skip


def step(state: Deal, event: tuple[str, Any]) -> Deal:
    kind, value = event
    changes = {
        "amount": {"amount": value}, "cost": {"cost": value},
        "paid": {"paid_amount": value, "paid_date": date(2026, 4, 1)},
        "win": {"won": True}, "lose": {"won": False}, "reopen": {"won": False},
        "delete": {"deleted": True}, "practice": {"practice": value},
        "currency": {"currency": value},
    }[kind]  # fmt: skip
    return replace(state, **changes)


@settings(max_examples=300, deadline=None)
@given(st.lists(EVENTS, max_size=25))
def test_the_net_ledger_is_the_commission_of_the_final_state(events: list[tuple[str, Any]]):
    state = deal(won=False)
    entries: list[Entry] = []
    for event in events:
        state = step(state, event)
        entries = apply(entries, corrections(1, commission(state, RULES), entries))
    final = commission(state, RULES)
    totals = {slot: amount for slot, amount in net(entries).items() if amount != 0}
    if final.accrues and final.amount != 0:
        assert final.rule is not None
        assert totals == {(final.currency, final.rule.flow): final.amount}
    else:
        assert totals == {}
    # A replay is idempotent, and every key is unique.
    assert corrections(1, final, entries) == []
    assert len({e.key for e in entries}) == len(entries)
    # Every reversal negates exactly one earlier entry, once.
    reversed_ids = [e.reverses for e in entries if e.kind is LedgerKind.REVERSAL]
    assert len(reversed_ids) == len(set(reversed_ids))


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6),
       st.sampled_from(["USD", "JPY", "BHD", "EUR", "KWD"]))  # fmt: skip
def test_rounding_is_within_half_a_minor_unit(amount: Decimal, currency: str):
    rounded = round_money(amount, currency)
    assert abs(rounded - amount) <= Decimal(1).scaleb(-minor_units(currency)) / 2


def test_a_rule_reversed_by_hand_is_not_accrued_again():
    entries = apply([], corrections(7, commission(deal(), [rule()]), []))
    entries.append(Entry(2, LedgerKind.REVERSAL, D("-100.00"), "USD", 1, MoneyFlow.PAYABLE,
                         reverses=1, key="reversal:payout:1:entry:1", waived=True))  # fmt: skip
    assert corrections(7, commission(deal(amount=D(2000)), [rule()]), entries) == []
    moved = rule(id=2, practice="cloud")
    assert [m.kind for m in corrections(7, commission(deal(), [rule(), moved]), entries)] == [
        LedgerKind.ACCRUAL
    ]  # another rule is not waived
