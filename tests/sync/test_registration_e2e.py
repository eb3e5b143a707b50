"""Deal registration end to end, on both CRMs: real clients against the sandbox, the sync
cycle (mirror, handlers, push), the registration service, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer
from sync.crm import CrmLink
from sync.cycle import Cycle
from sync.deals import list_deals, show_deal
from sync.mapping import CompiledMapping
from sync.partners import PartnerInput, add_partner
from sync.registrations import RegistrationService
from sync.settings import Settings
from sync.store import AuditEntity, AuditEntry, Registration
from tests.sync.links import LINKS

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
OBJECT = {"salesforce": "Opportunity", "hubspot": "deals"}
ACCOUNT_FIELD = {"salesforce": "salesforce_account_id", "hubspot": "hubspot_company_id"}


def crm_shows(sandbox: Sandbox, crm: str, mapping: CompiledMapping, deal: str, source: str) -> Any:
    """What the CRM shows of a partnersync value on a deal, named through the mapping."""
    spec = mapping.outbound_for(source)
    assert spec is not None
    return sandbox.value(crm, OBJECT[crm], deal, spec.crm_field)  # type: ignore[arg-type]


def shown(mapping: CompiledMapping, source: str, state: str) -> str:
    """The CRM's value for a partnersync state (its picklist label, where mapped)."""
    spec = mapping.outbound_for(source)
    assert spec is not None
    return (spec.values or {}).get(state, state)


def set_up(
    crm: str, sandbox: Sandbox, server: SandboxServer, store: sessionmaker[Session],
    **program: Any,
) -> tuple[Cycle, CompiledMapping, dict[str, str]]:  # fmt: skip
    """Two partners (ACME, BLUEFIN), each with a deal on one customer, mirrored."""
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 20)  # the partners' own accounts / companies, and some deals
    settings = Settings()
    settings = settings.model_copy(update={"program": settings.program.model_copy(update=program)})
    accounts = {
        "ACME": sandbox.partner_account(crm, "Acme Cloud Partners"),  # type: ignore[arg-type]
        "BLUEFIN": sandbox.partner_account(crm, "Bluefin Systems"),  # type: ignore[arg-type]
    }
    for partner_id, account in accounts.items():
        add_partner(store, PartnerInput(partner_id, partner_id.title(), "silver",
                                        **{ACCOUNT_FIELD[crm]: account}), settings.program,
                    actor="test")  # fmt: skip
    customer = sandbox.add_customer(crm, "Globex Industries", "globex-industries.com")  # type: ignore[arg-type]
    deals = {
        partner_id: sandbox.add_deal(crm, name=f"Globex for {partner_id}", customer=customer,  # type: ignore[arg-type]
                                     partner=account, amount=Decimal("25000"))
        for partner_id, account in accounts.items()
    }  # fmt: skip
    cycle = Cycle(settings, store, configured=[CrmLink(connect(server), mapping)])
    cycle.run()
    return cycle, mapping, deals


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_two_partners_one_customer_conflict_then_expiry_reach_the_crm(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Two partners register the same customer: one is approved, the other turns conflict;
    both statuses (and who holds the customer) reach the CRM after a push; the protection
    expires (expire-due --as-of) and the CRM shows Expired."""
    cycle, mapping, deals = set_up(crm, sandbox, sandbox_server, store, register_from_crm=False)
    regs = RegistrationService(store, cycle.settings.program, clock=lambda: NOW)
    first = regs.submit(partner_id="ACME", customer_name="Globex Industries Inc.",
                        customer_domain="https://www.globex-industries.com", amount="25000",
                        currency="USD", actor="cli")  # fmt: skip
    second = regs.submit(partner_id="BLUEFIN", customer_name="GLOBEX INDUSTRIES",
                         customer_domain="buyer@globex-industries.com", amount="25000",
                         currency="USD", actor="cli")  # fmt: skip
    assert first["opportunity_id"] is not None  # linked to the partner's own deal
    assert second["opportunity_id"] is not None
    approved = regs.approve(first["id"], actor="manager")
    assert regs.get(second["id"])["status"] == "conflict"

    cycle.run()
    status = "registration.status"
    assert crm_shows(sandbox, crm, mapping, deals["ACME"], status) == shown(
        mapping, status, "approved"
    )
    assert crm_shows(sandbox, crm, mapping, deals["BLUEFIN"], status) == shown(
        mapping, status, "conflict"
    )
    assert (
        crm_shows(sandbox, crm, mapping, deals["BLUEFIN"], "registration.conflict_partner_id")
        == "ACME"
    )
    assert crm_shows(sandbox, crm, mapping, deals["BLUEFIN"], "registration.reason") == "conflict"
    # The deal inspector answers "why does this deal show Conflict?" without SQL.
    inspected = show_deal(store, deals["BLUEFIN"])
    assert inspected["registration"]["status"] == "conflict"
    assert inspected["registration"]["conflict_with"] == first["id"]
    assert [r["partner_id"] for r in inspected["live_on_customer"]] == ["ACME"]
    assert inspected["outbox"]["status"] == "done"
    assert inspected["customer_domain_key"] == "globex-industries.com"
    listed = list_deals(store, status="conflict", customer="Globex Industries")
    assert [(d["crm_id"], d["partner_id"]) for d in listed] == [(deals["BLUEFIN"], "BLUEFIN")]
    protected = crm_shows(sandbox, crm, mapping, deals["ACME"], "registration.protected_until")
    assert str(protected)[:10] == str(approved["protected_until"])

    assert regs.expire_due(as_of=approved["protected_until"]) == []  # the last protected day
    day_after = approved["protected_until"] + timedelta(days=1)
    assert [r["becomes"] for r in regs.expire_due(as_of=day_after)] == ["expired"]
    cycle.run()
    assert crm_shows(sandbox, crm, mapping, deals["ACME"], status) == shown(
        mapping, status, "expired"
    )
    assert (
        crm_shows(sandbox, crm, mapping, deals["ACME"], "registration.reason") == "protection_ended"
    )


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_deals_naming_partners_are_registered_and_closed_from_the_crm(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """With register_from_crm, the mirror registers each partner deal through the rules
    (linked, audited, shown in the CRM); a rival's approval conflicts the other; the
    holder's deal won in the CRM makes its registration won."""
    cycle, mapping, deals = set_up(crm, sandbox, sandbox_server, store, register_from_crm=True)
    with store() as session:
        registrations = {
            r.partner_id: r
            for r in session.scalars(select(Registration).where(Registration.opportunity_id.is_not(None)))
            if r.customer_name == "Globex Industries"
        }  # fmt: skip
        trail = session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.entity_kind == AuditEntity.REGISTRATION,
                AuditEntry.entity_id == str(registrations["ACME"].id),
            )
        ).all()
    assert {p: (r.source.value, r.status.value) for p, r in registrations.items()} == {
        "ACME": ("crm", "pending"), "BLUEFIN": ("crm", "pending")}  # fmt: skip
    assert trail == ["submit"]
    status = "registration.status"
    assert crm_shows(sandbox, crm, mapping, deals["ACME"], status) == shown(
        mapping, status, "pending"
    )

    regs = RegistrationService(store, cycle.settings.program, clock=lambda: NOW)
    regs.approve(registrations["ACME"].id, actor="manager")
    stage_field = {"salesforce": "StageName", "hubspot": "dealstage"}[crm]
    won = {"salesforce": "Closed Won", "hubspot": "closedwon"}[crm]
    sandbox.edit(crm, OBJECT[crm], deals["ACME"], {stage_field: won})  # type: ignore[arg-type]
    cycle.run()
    assert regs.get(registrations["ACME"].id)["status"] == "won"
    assert regs.get(registrations["BLUEFIN"].id)["status"] == "conflict"
    assert crm_shows(sandbox, crm, mapping, deals["ACME"], status) == shown(mapping, status, "won")
    assert crm_shows(sandbox, crm, mapping, deals["BLUEFIN"], status) == shown(
        mapping, status, "conflict"
    )
    again = cycle.run()  # nothing new: no registration changes, nothing to push
    assert [p.sent for p in again.pushes] == [0]
