"""Deals created on approval, end to end on both CRMs: an approved registration with no
deal becomes one deal in the CRM (an upsert on the mapping's external id), mirrored and
linked back by its key; a push killed between send and record never makes a second."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import sync.writeback.creates as creates_module
from sandbox import Sandbox, SandboxServer
from sync.crm import CrmLink
from sync.cycle import Cycle
from sync.deal_creates import create_crm, new_key
from sync.mapping import CompiledMapping, parse_mapping
from sync.partners import PartnerInput, add_partner
from sync.registrations import RegistrationService
from sync.settings import ProgramSettings, Settings
from sync.store import (
    AuditEntity,
    AuditEntry,
    DealCreate,
    DealCreateStatus,
    Opportunity,
    Partner,
    Registration,
)
from sync.writeback.push import push
from tests.sync.links import LINKS

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
OBJECT = {"salesforce": "Opportunity", "hubspot": "deals"}
ACCOUNT_FIELD = {"salesforce": "salesforce_account_id", "hubspot": "hubspot_company_id"}
KEY_FIELD = {"salesforce": "Partnersync_Key__c", "hubspot": "partnersync_key"}
NAME_FIELD = {"salesforce": "Name", "hubspot": "dealname"}
PARTNER_FIELD = {"salesforce": "Partner_Account__c", "hubspot": "partner_company_id"}


def set_up(
    crm: str, sandbox: Sandbox, server: SandboxServer, store: sessionmaker[Session],
    **program: Any,
) -> tuple[Cycle, RegistrationService, str]:  # fmt: skip
    """A partner with an account in the CRM, a mirrored CRM, deals created on approval."""
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 5)
    settings = Settings()
    program = {"create_deals_on_approval": True, "register_from_crm": True, **program}
    settings = settings.model_copy(update={"program": settings.program.model_copy(update=program)})
    account = sandbox.partner_account(crm, "Acme Cloud Partners")  # type: ignore[arg-type]
    add_partner(store, PartnerInput("ACME", "Acme", "gold", **{ACCOUNT_FIELD[crm]: account}),
                settings.program, actor="test")  # fmt: skip
    cycle = Cycle(settings, store, configured=[CrmLink(connect(server), mapping)])
    cycle.run()
    return cycle, RegistrationService(store, settings.program, clock=lambda: NOW), account


def submit(regs: RegistrationService, name: str = "Initech", **extra: Any) -> dict[str, Any]:
    return regs.submit(partner_id="ACME", customer_name=name, customer_domain=f"{name}.com",
                       amount="48000", currency="USD", actor="cli", **extra)  # fmt: skip


def keyed_deals(sandbox: Sandbox, crm: str) -> dict[str, str]:
    """Key -> deal id, for the CRM's deals that carry a partnersync key."""
    out = {}
    for deal in sandbox.record_ids(crm, OBJECT[crm]):  # type: ignore[arg-type]
        key = sandbox.value(crm, OBJECT[crm], deal, KEY_FIELD[crm])  # type: ignore[arg-type]
        if key:
            assert key not in out, f"two deals carry key {key}"
            out[key] = deal
    return out


def the_create(store: sessionmaker[Session], registration_id: int) -> DealCreate:
    with store() as session:
        row = session.scalar(
            select(DealCreate).where(DealCreate.registration_id == registration_id)
        )
        assert row is not None
        return row


def audit_actions(store: sessionmaker[Session], registration_id: int) -> list[str]:
    with store() as session:
        return list(session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.entity_kind == AuditEntity.REGISTRATION,
                AuditEntry.entity_id == str(registration_id),
            ).order_by(AuditEntry.id)
        ))  # fmt: skip


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_an_approved_registration_without_a_deal_gets_exactly_one_deal(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Approval queues the create; the push makes the deal with the [create] fields and
    the registration's own fields; the next pull mirrors it and links it back by its key,
    and it is not registered a second time from the CRM."""
    cycle, regs, account = set_up(crm, sandbox, sandbox_server, store)
    registration = submit(regs, close_date="2027-03-31")
    assert registration["opportunity_id"] is None
    assert keyed_deals(sandbox, crm) == {}
    approved = regs.approve(registration["id"], actor="manager")
    queued = the_create(store, registration["id"])
    assert (queued.crm.value, queued.status) == (crm, DealCreateStatus.PENDING)

    report = cycle.run()
    pushed = report.pushes[0]
    assert pushed.creates.created == 1
    deals = keyed_deals(sandbox, crm)
    assert list(deals) == [queued.key]
    deal = deals[queued.key]

    def value(field: str) -> Any:
        return sandbox.value(crm, OBJECT[crm], deal, field)  # type: ignore[arg-type]

    assert value(NAME_FIELD[crm]) == "Initech"
    assert value(PARTNER_FIELD[crm]) == account
    assert Decimal(str(value("Amount" if crm == "salesforce" else "amount"))) == Decimal("48000")
    _, mapping, _ = LINKS[crm]
    status = mapping.outbound_for("registration.status")
    until = mapping.outbound_for("registration.protected_until")
    assert status is not None
    assert until is not None
    assert value(status.crm_field) == (status.values or {}).get("approved", "approved")
    assert str(value(until.crm_field))[:10] == str(approved["protected_until"])
    done = the_create(store, registration["id"])
    assert (done.status, done.crm_id) == (DealCreateStatus.CREATED, deal)

    cycle.run()  # the deal comes back through the mirror: linked, not registered again
    linked = regs.get(registration["id"])
    with store() as session:
        mirrored = session.scalar(select(Opportunity).where(Opportunity.crm_id == deal))
        assert mirrored is not None
        assert linked["opportunity_id"] == mirrored.id
        assert mirrored.registration_key == queued.key
        assert session.scalar(
            select(Registration.id).where(Registration.id != registration["id"])
        ) is None  # fmt: skip
    assert audit_actions(store, registration["id"])[-3:] == [
        "deal_create_queued", "deal_created", "link",
    ]  # fmt: skip
    assert cycle.run().pushes[0].creates.created == 0
    assert len(keyed_deals(sandbox, crm)) == 1


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_push_killed_between_send_and_record_creates_no_second_deal(
    crm: str,
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    store: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies after the CRM made the deals, before the store recorded them; the
    next push sends the same keys and finds them: still one deal per registration."""
    _cycle, regs, _ = set_up(crm, sandbox, sandbox_server, store)
    ids = [submit(regs, f"Customer {n}")["id"] for n in range(3)]
    for registration_id in ids:
        regs.approve(registration_id, actor="manager")
    connect, mapping, _ = LINKS[crm]

    def die(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # what a kill mid-push amounts to for the store

    with monkeypatch.context() as patched:
        patched.setattr(creates_module, "_record", die)
        with pytest.raises(KeyboardInterrupt):
            push(store, connect(sandbox_server), mapping)
    assert len(keyed_deals(sandbox, crm)) == 3  # the CRM made them ...
    assert {the_create(store, i).status for i in ids} == {
        DealCreateStatus.PENDING
    }  # ... unrecorded

    report = push(store, connect(sandbox_server), mapping)
    assert (report.creates.created, report.creates.found) == (0, 3)
    deals = keyed_deals(sandbox, crm)
    assert len(deals) == 3
    for registration_id in ids:
        row = the_create(store, registration_id)
        assert (row.status, row.crm_id) == (DealCreateStatus.CREATED, deals[row.key])
        assert "deal_created" in audit_actions(store, registration_id)


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_the_mirror_links_a_created_deal_the_push_never_recorded(
    crm: str,
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    store: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Killed before recording, then a pull before the next push: the mirror links the
    deal by its key and settles the create; the push sends nothing more."""
    cycle, regs, _ = set_up(crm, sandbox, sandbox_server, store)
    registration = submit(regs)
    regs.approve(registration["id"], actor="manager")
    connect, mapping, _ = LINKS[crm]
    with monkeypatch.context() as patched:
        patched.setattr(creates_module, "_record", lambda *a, **k: (_ for _ in ()).throw(
            KeyboardInterrupt))  # fmt: skip
        with pytest.raises(KeyboardInterrupt):
            push(store, connect(sandbox_server), mapping)
    cycle.run(push=False)
    row = the_create(store, registration["id"])
    deal = keyed_deals(sandbox, crm)[row.key]
    assert (row.status, row.crm_id) == (DealCreateStatus.CREATED, deal)
    assert regs.get(registration["id"])["opportunity_id"] is not None
    calls = connect(sandbox_server)
    report = push(store, calls, mapping)
    assert report.creates.created == report.creates.found == 0
    assert len(keyed_deals(sandbox, crm)) == 1


def test_nothing_is_created_for_a_registration_with_a_deal_or_when_switched_off(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    crm = "salesforce"
    cycle, regs, account = set_up(crm, sandbox, sandbox_server, store)
    customer = sandbox.add_customer(crm, "Umbrella Corp", "umbrella.com")
    sandbox.add_deal(crm, name="Umbrella", customer=customer, partner=account,
                     amount=Decimal("1000"))  # fmt: skip
    cycle.run()  # registered from the CRM, with its deal
    with store() as session:
        from_crm = session.scalar(select(Registration).where(Registration.source == "crm"))
        assert from_crm is not None
        from_crm_id = from_crm.id
    regs.approve(from_crm_id, actor="manager")
    off = RegistrationService(store, ProgramSettings(), clock=lambda: NOW)
    other = submit(off, "Hooli")
    off.approve(other["id"], actor="manager")
    with store() as session:
        assert session.scalars(select(DealCreate)).all() == []
    assert cycle.run().pushes[0].creates.created == 0


def test_auto_approved_submissions_queue_their_create_at_once(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    _, regs, _ = set_up("hubspot", sandbox, sandbox_server, store, auto_approve=True)
    registration = submit(regs)
    assert registration["status"] == "approved"
    assert the_create(store, registration["id"]).status is DealCreateStatus.PENDING


def test_a_create_cancelled_when_the_registration_ends_before_the_push(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    crm = "hubspot"
    cycle, regs, _ = set_up(crm, sandbox, sandbox_server, store)
    registration = submit(regs)
    regs.approve(registration["id"], actor="manager")
    regs.withdraw(registration["id"], actor="partner", note="customer went elsewhere")
    assert cycle.run().pushes[0].creates.cancelled == 1
    assert the_create(store, registration["id"]).status is DealCreateStatus.CANCELLED
    assert keyed_deals(sandbox, crm) == {}
    assert audit_actions(store, registration["id"])[-1] == "deal_create_cancelled"


def test_a_create_the_crm_refuses_is_kept_with_its_error(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A [create] that omits what Salesforce requires: rejected with the CRM's code, in the
    registration's audit trail; not retried blindly."""
    crm = "salesforce"
    _cycle, regs, _ = set_up(crm, sandbox, sandbox_server, store)
    text = Path(LINKS[crm][1].source).read_text(encoding="utf-8")
    narrow = parse_mapping(text.replace('StageName          = { value = "Prospecting" }', ""),
                           "no-stage.toml")  # fmt: skip
    registration = submit(regs)
    regs.approve(registration["id"], actor="manager")
    report = push(store, LINKS[crm][0](sandbox_server), narrow)
    assert report.creates.rejected == 1
    row = the_create(store, registration["id"])
    assert (row.status, row.last_error_code) == (
        DealCreateStatus.REJECTED, "REQUIRED_FIELD_MISSING")  # fmt: skip
    assert audit_actions(store, registration["id"])[-1] == "deal_create_rejected"
    assert push(store, LINKS[crm][0](sandbox_server), narrow).creates.rejected == 0


def test_creates_wait_while_the_mapping_has_no_create_section(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    crm = "hubspot"
    _, regs, _ = set_up(crm, sandbox, sandbox_server, store)
    registration = submit(regs)
    regs.approve(registration["id"], actor="manager")
    text = Path(LINKS[crm][1].source).read_text(encoding="utf-8")
    without: CompiledMapping = parse_mapping(text.split("\n[create]")[0], "h.toml")
    report = push(store, LINKS[crm][0](sandbox_server), without)
    assert report.creates.waiting == 1
    assert the_create(store, registration["id"]).status is DealCreateStatus.PENDING


def test_which_crm_and_the_key() -> None:
    both = Partner(
        id="P", name="P", tier="gold", salesforce_account_id="001", hubspot_company_id="9"
    )
    only_hubspot = Partner(id="P", name="P", tier="gold", hubspot_company_id="9")
    neither = Partner(id="P", name="P", tier="gold")
    program = ProgramSettings()
    assert create_crm(both, program) == "salesforce"
    assert create_crm(only_hubspot, program) == "hubspot"
    assert create_crm(neither, program) is None
    forced = program.model_copy(update={"create_deals_in": "hubspot"})
    assert create_crm(both, forced) == create_crm(neither, forced) == "hubspot"
    keys = {new_key(7) for _ in range(100)}
    assert len(keys) == 100
    assert all(k.startswith("ps-7-") and len(k) <= 80 for k in keys)


def test_a_partner_with_no_crm_account_gets_no_deal_and_the_audit_says_why(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    _, regs, _ = set_up("salesforce", sandbox, sandbox_server, store)
    add_partner(store, PartnerInput("LONER", "Loner", "gold"), regs.program, actor="test")
    registration = regs.submit(partner_id="LONER", customer_name="Vandelay", actor="cli",
                               close_date=date(2027, 1, 1))  # fmt: skip
    regs.approve(registration["id"], actor="manager")
    assert audit_actions(store, registration["id"])[-1] == "deal_not_created"
    with store() as session:
        assert session.scalars(select(DealCreate)).all() == []
