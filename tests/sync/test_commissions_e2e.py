"""Commissions end to end, on both CRMs: a deal won in the CRM accrues on the pull, its
payout is approved and bulk paid, and the CRM shows it after a push; a reversal too."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer
from sync.commissions import CommissionService
from sync.crm import CrmLink
from sync.cycle import Cycle
from sync.deals import show_deal
from sync.partners import PartnerInput, add_partner
from sync.payouts import PayoutService
from sync.reports import run_report
from sync.settings import Settings
from tests.sync.links import LINKS
from tests.sync.test_registration_e2e import crm_shows, shown

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
ACCOUNT_FIELD = {"salesforce": "salesforce_account_id", "hubspot": "hubspot_company_id"}
DIRECTION = {  # partner sourced, direct sold, as each CRM holds it
    "salesforce": {"Co_Sell_Direction__c": "Partner Sourced / Direct Sold"},
    "hubspot": {"co_sell_direction": "partner_sourced_direct_sold"},
}
OBJECT = {"salesforce": "Opportunity", "hubspot": "deals"}
AGREEMENT = """
partner = "ACME"
name = "ACME reseller"
effective_from = 2026-01-01

[[rules]]
practice = "*"
direction = "partner_sourced_direct_sold"
basis = "amount"
percent = "10"
ceiling = "2000"
flow = "payable"
trigger = "closed_won"
payout_delay_days = 30
"""


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_won_deal_accrues_is_paid_and_reversed_in_the_crm(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session],
    tmp_path: Path,
) -> None:  # fmt: skip
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 10)
    settings = Settings()
    account = sandbox.partner_account(crm, "Acme Cloud Partners")  # type: ignore[arg-type]
    add_partner(store, PartnerInput("ACME", "Acme", "gold", **{ACCOUNT_FIELD[crm]: account}),
                settings.program, actor="test")  # fmt: skip
    path = tmp_path / "acme.toml"
    path.write_text(AGREEMENT, encoding="utf-8")
    CommissionService(store, clock=lambda: NOW).import_file(path, actor="test")
    customer = sandbox.add_customer(crm, "Initech", "initech.com")  # type: ignore[arg-type]
    deal = sandbox.add_deal(crm, name="Initech expansion", customer=customer, partner=account,  # type: ignore[arg-type]
                            amount=Decimal("15000"), stage="won", close_date=date(2026, 11, 2))  # fmt: skip
    sandbox.edit(crm, OBJECT[crm], deal, DIRECTION[crm])  # type: ignore[arg-type]
    cycle = Cycle(settings, store, configured=[CrmLink(connect(sandbox_server), mapping)])
    report = cycle.run()
    assert sum(p.handled.get("ledger_accrual", 0) for p in report.pulls) == 1

    status = "payout.status"
    assert Decimal(str(crm_shows(sandbox, crm, mapping, deal, "commission.accrued"))) == 1500
    assert crm_shows(sandbox, crm, mapping, deal, status) == shown(mapping, status, "accrued")

    payouts = PayoutService(store, clock=lambda: NOW)
    [payout] = payouts.list_payouts(partner_id="ACME")
    assert (payout["deal"], payout["amount"], payout["due_on"]) == (
        deal, Decimal("1500.00"), date(2026, 12, 2))  # fmt: skip
    payouts.approve([payout["id"]], actor="finance")
    payouts.pay([payout["id"]], reference="WIRE-2026-12", actor="finance")
    cycle.run()
    assert crm_shows(sandbox, crm, mapping, deal, status) == shown(mapping, status, "paid")
    assert crm_shows(sandbox, crm, mapping, deal, "payout.reference") == "WIRE-2026-12"
    assert str(crm_shows(sandbox, crm, mapping, deal, "payout.paid_at"))[:10] == "2026-12-01"

    payouts.reverse([payout["id"]], reason="customer refunded", actor="finance")
    cycle.run()
    assert crm_shows(sandbox, crm, mapping, deal, status) == shown(mapping, status, "reversed")
    assert Decimal(str(crm_shows(sandbox, crm, mapping, deal, "commission.accrued"))) == 0
    # The reports net the reversal out; a replay changes nothing; the inspector explains.
    [summary] = run_report(store, "ytd-summary", partner_id="ACME", year=2026,
                           today=date(2026, 12, 31))  # fmt: skip
    assert (summary["reversed"], summary["paid"], summary["net"]) == (
        Decimal("1500.00"), Decimal("0.00"), Decimal("0.00"))  # fmt: skip
    assert CommissionService(store).replay(actor="test")["rows_written"] == 0
    inspected = show_deal(store, deal)["commission"]
    assert (inspected["outcome"], inspected["clamp"], inspected["amount"]) == (
        "accrue", None, Decimal("1500.00"))  # fmt: skip
    assert [row["kind"] for row in inspected["ledger"]] == ["accrual", "reversal"]
