"""deal-profitability folds a deal's several ledger rows into its one row (accrual and
adjustment summed, a reversal netted), on SQLite and PostgreSQL, and says why a deal
with no ledger row has no rule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from sync.commissions import CommissionService
from sync.reports import run_report
from sync.store import CoSellDirection, Opportunity, transaction
from tests.sync.store import rows
from tests.sync.test_commissions import AGREEMENT, NOW, settle_now

D = Decimal
PSDS = CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD


def test_several_ledger_rows_make_one_report_row(store: sessionmaker[Session], tmp_path: Path):
    with transaction(store) as session:
        rows.partner(session, id="ACME")
    path = tmp_path / "acme.toml"
    path.write_text(AGREEMENT.format(extra="", first_end=""), encoding="utf-8")
    CommissionService(store, clock=lambda: NOW).import_file(path, actor="t")
    won = {"is_closed": True, "is_won": True, "partner_id": "ACME", "direction": PSDS}
    with transaction(store) as session:
        made = [
            rows.opportunity(session, crm_id="006A", close_date=date(2026, 2, 10),
                             amount=D(1000), cost=D(600), **won),
            rows.opportunity(session, crm_id="006B", close_date=date(2026, 2, 10),
                             amount=D(3000), cost=D(1000), **won),
            rows.opportunity(session, crm_id="006C", close_date=date(2026, 1, 5),
                             amount=D("123.45"), cost=D(100), **won),
        ]  # fmt: skip
        a, b, c = (m.id for m in made)
    settle_now(store, a, b, c)
    with transaction(store) as session:  # A grows (an adjustment), B lost its direction
        session.get_one(Opportunity, a).amount = D(1500)
        session.get_one(Opportunity, b).direction = None
    settle_now(store, a, b)

    found = run_report(store, "deal-profitability", year=2026, today=date(2026, 12, 1))
    assert [r["crm_id"] for r in found] == ["006C", "006A", "006B"]  # by close date, then id
    by_id = {r["crm_id"]: r for r in found}
    # A: accrual 100.00 + adjustment 50.00
    assert (by_id["006A"]["payable"], by_id["006A"]["net_margin"]) == (D("150.00"), D("750.00"))
    assert by_id["006A"]["rule"].startswith("#")
    # B: accrual 300.00 and its reversal: nothing payable, under the rule it accrued by
    assert (by_id["006B"]["payable"], by_id["006B"]["net_margin"]) == (D("0.00"), D("2000.00"))
    assert by_id["006B"]["rule"] == by_id["006A"]["rule"]
    assert (by_id["006C"]["payable"], by_id["006C"]["net_margin"]) == (D("12.35"), D("11.10"))
