"""The named reports against a hand-computed fixture, on SQLite and PostgreSQL: one
query each, amounts per currency, reversals netted out."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from sync.commissions import CommissionService
from sync.payouts import PayoutService
from sync.program import ProgramError
from sync.reports import REPORTS, run_report
from sync.store import CoSellDirection, transaction
from tests.sync.store import rows
from tests.sync.test_commissions import AGREEMENT, NOW, settle_now

D = Decimal
TODAY = date(2026, 12, 1)
RECEIVABLE = """
[[rules]]
practice = "*"
direction = "direct_sourced_partner_sold"
basis = "paid"
percent = "5"
flow = "receivable"
trigger = "paid"
payout_delay_days = 15
"""


@pytest.fixture
def fixture(store: sessionmaker[Session], tmp_path: Path) -> sessionmaker[Session]:
    """ACME: a USD deal paid (100.00), a EUR deal accrued (200.00), a JPY deal reversed by
    hand (10000), a handed-over deal the customer paid 500.00 for (25.00 receivable,
    received), one handed over and not paid yet (not_paid); and a direct USD deal."""
    with transaction(store) as session:
        rows.partner(session, id="ACME")
    path = tmp_path / "acme.toml"
    path.write_text(AGREEMENT.format(extra="", first_end="") + RECEIVABLE, encoding="utf-8")
    CommissionService(store, clock=lambda: NOW).import_file(path, actor="t")
    psds, dsps = (
        CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD,
        CoSellDirection.DIRECT_SOURCED_PARTNER_SOLD,
    )
    won = {"is_closed": True, "is_won": True}
    with transaction(store) as session:
        made = [
            rows.opportunity(session, crm_id="006A", partner_id="ACME", direction=psds,
                             close_date=date(2026, 2, 10), amount=D(1000), cost=D(600), **won),
            rows.opportunity(session, crm_id="006B", partner_id="ACME", direction=psds,
                             close_date=date(2026, 3, 5), amount=D(2000), currency="EUR", **won),
            rows.opportunity(session, crm_id="006C", partner_id="ACME", direction=psds,
                             close_date=date(2026, 3, 20), amount=D(100000), currency="JPY",
                             **won),
            rows.opportunity(session, crm_id="006D", partner_id="ACME", direction=dsps,
                             close_date=date(2026, 4, 1), amount=D(800), paid_amount=D(500),
                             paid_date=date(2026, 5, 1), **won),
            rows.opportunity(session, crm_id="006E", partner_id="ACME", direction=dsps,
                             close_date=date(2026, 4, 2), amount=D(300), **won),
            rows.opportunity(session, crm_id="006F", close_date=date(2026, 2, 11),
                             amount=D(5000), **won),
            rows.opportunity(session, crm_id="006G", partner_id="ACME", direction=psds,
                             close_date=date(2025, 12, 31), amount=D(9000), **won),
        ]  # fmt: skip
        ids = [m.id for m in made]
    settle_now(store, *ids)
    payouts = PayoutService(store, clock=lambda: NOW)
    by_deal = {p["deal"]: p["id"] for p in payouts.list_payouts()}
    payouts.approve([by_deal["006A"], by_deal["006D"]], actor="t")
    payouts.pay([by_deal["006A"], by_deal["006D"]], reference="R1", on=date(2026, 4, 2),
                actor="t")  # fmt: skip
    payouts.reverse([by_deal["006C"]], reason="duplicate", actor="t")
    return store


def report(store: sessionmaker[Session], name: str, **options: Any) -> list[dict[str, Any]]:
    return run_report(store, name, year=2026, today=TODAY, **options)


def test_payouts_by_partner(fixture: sessionmaker[Session]):
    assert report(fixture, "payouts-by-partner") == [
        {"partner_id": "ACME", "currency": "EUR", "flow": "payable", "payouts": 1,
         "total": D("200.00"), "paid": D("0.00"), "outstanding": D("200.00"),
         "last_paid_at": None},
        {"partner_id": "ACME", "currency": "JPY", "flow": "payable", "payouts": 1,
         "total": D(0), "paid": D(0), "outstanding": D(0), "last_paid_at": None},
        {"partner_id": "ACME", "currency": "USD", "flow": "payable", "payouts": 1,
         "total": D("100.00"), "paid": D("100.00"), "outstanding": D("0.00"),
         "last_paid_at": date(2026, 4, 2)},
        {"partner_id": "ACME", "currency": "USD", "flow": "receivable", "payouts": 1,
         "total": D("25.00"), "paid": D("25.00"), "outstanding": D("0.00"),
         "last_paid_at": date(2026, 4, 2)},
    ]  # fmt: skip


def test_ytd_summary_nets_out_the_reversal(fixture: sessionmaker[Session]):
    found = {(r["currency"], r["flow"]): r for r in report(fixture, "ytd-summary")}
    assert (found[("JPY", "payable")]["reversed"], found[("JPY", "payable")]["net"]) == (
        D(10000), D(0))  # fmt: skip
    usd = found[("USD", "payable")]
    assert (usd["paid"], usd["accrued"], usd["net"]) == (D("100.00"), D("0.00"), D("100.00"))
    assert found[("EUR", "payable")]["accrued"] == D("200.00")
    assert run_report(fixture, "ytd-summary", year=2025, today=TODAY) == []


def test_deal_profitability_says_why_a_deal_has_no_commission(fixture: sessionmaker[Session]):
    found = {r["crm_id"]: r for r in report(fixture, "deal-profitability")}
    assert set(found) == {"006A", "006B", "006C", "006D", "006E"}  # partner deals of 2026
    assert (found["006A"]["payable"], found["006A"]["net_margin"], found["006A"]["rule"]) == (
        D("100.00"), D("300.00"), "#1")  # 1000 - 600 - 100  # fmt: skip
    assert found["006B"]["net_margin"] is None  # no cost: no margin, not a made-up one
    assert found["006C"]["payable"] == D(0)  # reversed
    assert (found["006D"]["receivable"], found["006D"]["rule"]) == (D("25.00"), "#2")
    assert found["006E"]["rule"] == "not_paid"


def test_commission_received(fixture: sessionmaker[Session]):
    assert report(fixture, "commission-received") == [
        {"partner_id": "ACME", "currency": "USD", "expected": D("25.00"),
         "received": D("25.00"), "outstanding": D("0.00")}]  # fmt: skip


def test_combined_revenue_by_month(fixture: sessionmaker[Session]):
    found = {(r["month"], r["currency"]): r for r in report(fixture, "combined-revenue")}
    feb = found[("2026-02", "USD")]
    assert (feb["direct"], feb["partner_sourced"], feb["total"]) == (
        D("5000.00"), D("1000.00"), D("6000.00"))  # fmt: skip
    april = found[("2026-04", "USD")]
    assert (april["direct_sourced_partner_sold"], april["direct"]) == (D("1100.00"), D("0.00"))
    assert ("2025-12", "USD") not in found


def test_payouts_by_status(fixture: sessionmaker[Session]):
    found = {(r["status"], r["currency"], r["flow"]): (r["payouts"], r["amount"])
             for r in report(fixture, "payouts-by-status")}  # fmt: skip
    assert found == {
        ("paid", "USD", "payable"): (1, D("100.00")),
        ("paid", "USD", "receivable"): (1, D("25.00")),
        ("accrued", "EUR", "payable"): (1, D("200.00")),
        ("reversed", "JPY", "payable"): (1, D(10000)),
    }


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_each_report_is_a_constant_number_of_queries(fixture: sessionmaker[Session], name: str):
    engine = fixture.kw["bind"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        report(fixture, name, partner_id="ACME")
    finally:
        event.remove(engine, "before_cursor_execute", count)
    selects = [s for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]
    assert len(selects) <= (2 if name == "deal-profitability" else 1)


def test_bad_report_options_are_clear(fixture: sessionmaker[Session]):
    with pytest.raises(ProgramError, match="no report 'nope' \\(reports: payouts-by-partner"):
        report(fixture, "nope")
    with pytest.raises(ProgramError, match="partner"):
        report(fixture, "ytd-summary", partner_id="x' OR 1=1 --")
    with pytest.raises(ProgramError, match="year: 1900 to 9998"):
        run_report(fixture, "ytd-summary", year=0)
