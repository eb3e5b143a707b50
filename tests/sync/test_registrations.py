"""The registration service on SQLite and PostgreSQL: decisions written with their audit
rows and CRM fields, one holder per customer even when two people race."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.partners import PartnerInput, add_partner, block_account, deactivate_partner
from sync.program import Conflict, NotFound, ProgramError
from sync.registrations import RegistrationService
from sync.settings import ProgramSettings
from sync.store import (
    AuditEntity,
    AuditEntry,
    Crm,
    Opportunity,
    OutboxEntry,
    Registration,
    transaction,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PROGRAM = ProgramSettings()


def service(store: sessionmaker[Session], **program: Any) -> RegistrationService:
    return RegistrationService(store, PROGRAM.model_copy(update=program), clock=lambda: NOW)


def partners(store: sessionmaker[Session], *ids: str, tier: str = "gold") -> None:
    for partner_id in ids:
        add_partner(store, PartnerInput(partner_id, f"{partner_id} Ltd", tier), PROGRAM,
                    actor="test")  # fmt: skip


def audit_actions(store: sessionmaker[Session], registration_id: int) -> list[str]:
    with store() as session:
        return list(
            session.scalars(
                select(AuditEntry.action)
                .where(
                    AuditEntry.entity_kind == AuditEntity.REGISTRATION,
                    AuditEntry.entity_id == str(registration_id),
                )
                .order_by(AuditEntry.id)
            )
        )


def test_first_approved_wins_and_every_step_is_audited(store: sessionmaker[Session]) -> None:
    """Two partners register the same customer: the first approved holds it for its tier's
    days, the other turns conflict pointing at it and cannot be approved; a rejection
    frees the customer."""
    partners(store, "ACME", "INITECH")
    regs = service(store)
    first = regs.submit(partner_id="ACME", customer_name="Globex, Inc.",
                        customer_domain="https://www.globex.com/", actor="cli")  # fmt: skip
    second = regs.submit(partner_id="INITECH", customer_name="GLOBEX Incorporated",
                         customer_domain="sales@globex.com", actor="cli")  # fmt: skip
    assert (first["status"], second["status"]) == ("pending", "pending")
    approved = regs.approve(first["id"], actor="manager@acme", note="good fit")
    assert approved["status"] == "approved"
    assert approved["protected_until"] == date(2026, 3, 2) + timedelta(days=180)
    rival = regs.get(second["id"])
    assert (rival["status"], rival["reason"], rival["conflict_with"]) == (
        "conflict", "conflict", first["id"])  # fmt: skip
    with pytest.raises(Conflict, match=f"held by partner ACME \\(registration {first['id']}"):
        regs.approve(second["id"], actor="manager@acme")
    late = regs.submit(partner_id="INITECH", customer_name="Globex GmbH",
                       customer_domain="globex.com", actor="cli")  # fmt: skip
    assert (late["status"], late["reason"]) == ("rejected", "duplicate")
    regs.reject(first["id"], actor="manager@acme", note="wrong region")
    assert regs.approve(second["id"], actor="manager@acme")["status"] == "approved"
    assert audit_actions(store, first["id"]) == ["submit", "approve", "reject"]
    assert audit_actions(store, second["id"]) == ["submit", "conflict", "approve"]
    explained = regs.show(late["id"])
    assert explained["matched"] == [f"domain globex.com = registration {second['id']}"]
    assert explained["customer_domain_key"] == "globex.com"


@pytest.mark.parametrize(
    ("setup", "submission", "status", "reason"),
    [
        pytest.param("house", {}, "rejected", "house_account", id="house-account"),
        pytest.param("inactive", {}, "rejected", "partner_inactive", id="partner-inactive"),
        pytest.param("direct-deal", {}, "conflict", "channel_conflict", id="channel-conflict"),
        pytest.param("fuzzy", {"customer_domain": None, "customer_name": "Globex Industrie"},
                     "conflict", "possible_conflict", id="possible-conflict"),
        pytest.param("", {"amount": "10", "currency": "usd"}, "rejected", "below_min_amount",
                     id="below-min-amount"),
        pytest.param("", {"practice": "Data"}, "rejected", "practice_not_eligible",
                     id="practice"),
        pytest.param("", {}, "pending", None, id="clean"),
    ],
)  # fmt: skip
def test_submission_reasons_in_the_store(
    store: sessionmaker[Session],
    setup: str,
    submission: dict[str, Any],
    status: str,
    reason: str | None,
) -> None:
    """Each reason code, decided on facts the service looks up in the store."""
    partners(store, "ACME", "INITECH")
    regs = service(store, min_amount=Decimal("100"))
    if setup == "house":
        block_account(store, domain="GLOBEX.com", kind="house", name="Globex", actor="t")
    elif setup == "inactive":
        from sync.partners import deactivate_partner

        deactivate_partner(store, "ACME", actor="t")
    elif setup == "direct-deal":
        with transaction(store) as session:
            session.add(Opportunity(crm=Crm.SALESFORCE, crm_id="006D", name="Globex renewal",
                                    customer_name_key="globex", customer_domain_key="globex.com",
                                    crm_modified_at=NOW, crm_values={}))  # fmt: skip
    elif setup == "fuzzy":
        regs.submit(partner_id="INITECH", customer_name="Globex Industries", amount="500",
                    currency="EUR", actor="cli")  # fmt: skip
    if "practice" in submission:
        regs = service(store, practices=["Cloud"])
    values = {"customer_name": "Globex", "customer_domain": "globex.com", "amount": "100",
              "currency": "USD", **submission}  # fmt: skip
    made = regs.submit(partner_id="ACME", actor="cli", **values)
    assert (made["status"], made["reason"]) == (status, reason)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"partner_id": "AC ME"}, "partner_id: a partner id is 1 to 32", id="space-in-id"),
        pytest.param({"partner_id": "x'; DROP TABLE partners; --"}, "partner_id: a partner id",
                     id="sql-in-id"),
        pytest.param({"customer_name": "Glo\x00bex"}, "customer_name: control characters",
                     id="nul"),
        pytest.param({"customer_name": "x" * 10_000}, "customer_name: at most 255", id="10kB"),
        pytest.param({"customer_name": "!!! ..."}, "leaves no name", id="only-punctuation"),
        pytest.param({"amount": "ten", "currency": "USD"}, "amount: not a number", id="amount"),
        pytest.param({"amount": "10"}, "currency: required with an amount", id="no-currency"),
        pytest.param({"currency": "dollars"}, "currency: a three-letter ISO code", id="currency"),
        pytest.param({"close_date": "31/12/2026"}, "close_date: a date YYYY-MM-DD", id="date"),
        pytest.param({"partner_id": "NOBODY"}, "no partner 'NOBODY'", id="unknown-partner"),
    ],
)  # fmt: skip
def test_bad_submissions_are_refused_and_nothing_is_written(
    store: sessionmaker[Session], values: dict[str, Any], message: str
) -> None:
    partners(store, "ACME")
    arguments = {"partner_id": "ACME", "customer_name": "Globex", **values}
    with pytest.raises(ProgramError, match=message):
        service(store).submit(actor="cli", **arguments)
    with store() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 0


def test_hostile_text_is_stored_verbatim_and_harmless(store: sessionmaker[Session]) -> None:
    partners(store, "ACME")
    name = "Robert'); DROP TABLE registrations;-- \"Bobby\" O'Brien & Söhne"
    made = service(store).submit(partner_id="ACME", customer_name=name,
                                 customer_domain="x' OR 1=1 --", actor="cli")  # fmt: skip
    assert service(store).get(made["id"])["customer_name"] == name


def test_expiry_is_the_day_after_the_last_protected_day(store: sessionmaker[Session]) -> None:
    """expire-due --as-of: protected through protected_until, expired the day after; the
    customer is then free to register again."""
    partners(store, "ACME", "INITECH")
    regs = service(store)
    made = regs.submit(partner_id="ACME", customer_name="Globex", customer_domain="globex.com",
                       actor="cli")  # fmt: skip
    until = regs.approve(made["id"], actor="m")["protected_until"]
    assert regs.expire_due(as_of=until) == []
    assert [r["becomes"] for r in regs.expire_due(as_of=until + timedelta(days=1), dry_run=True)] == [
        "expired"]  # fmt: skip
    assert regs.get(made["id"])["status"] == "approved"  # a dry run writes nothing
    expired = regs.expire_due(as_of=until + timedelta(days=1))
    assert [(r["id"], r["becomes"]) for r in expired] == [(made["id"], "expired")]
    again = regs.submit(partner_id="INITECH", customer_name="Globex", customer_domain="globex.com",
                        actor="cli")  # fmt: skip
    assert again["status"] == "pending"


def test_a_decision_on_a_linked_deal_stages_its_crm_fields(store: sessionmaker[Session]) -> None:
    """A registration submitted for a customer the partner already has a mirrored deal on
    is linked to it; each decision stages the deal's CRM fields in the same transaction."""
    partners(store, "ACME", "INITECH")
    with transaction(store) as session:
        session.add(Opportunity(crm=Crm.HUBSPOT, crm_id="77", name="Globex pilot",
                                partner_id="INITECH", partner_ref="INITECH",
                                customer_name_key="globex", customer_domain_key="globex.com",
                                crm_modified_at=NOW, crm_values={}))  # fmt: skip
    regs = service(store)
    holder = regs.submit(partner_id="ACME", customer_name="Globex", customer_domain="globex.com",
                         actor="cli")  # fmt: skip
    regs.approve(holder["id"], actor="m")
    linked = regs.submit(partner_id="INITECH", customer_name="Globex",
                         customer_domain="globex.com", actor="cli")  # fmt: skip
    assert linked["opportunity_id"] is not None
    with store() as session:
        [entry] = session.scalars(select(OutboxEntry)).all()
    assert entry.desired == {
        "registration.id": str(linked["id"]), "registration.status": "conflict",
        "registration.reason": "conflict", "registration.protected_until": None,
        "registration.partner_id": "INITECH", "registration.conflict_partner_id": "ACME",
    }  # fmt: skip


def test_illegal_transitions_and_unknown_ids(store: sessionmaker[Session]) -> None:
    partners(store, "ACME")
    regs = service(store)
    made = regs.submit(partner_id="ACME", customer_name="Globex", actor="cli")
    regs.withdraw(made["id"], actor="partner")
    with pytest.raises(
        Conflict, match=f"registration {made['id']} is rejected: it cannot be approved"
    ):
        regs.approve(made["id"], actor="m")
    with pytest.raises(NotFound, match="no registration 999"):
        regs.approve(999, actor="m")
    assert regs.get(made["id"])["reason"] == "withdrawn"


@pytest.mark.postgres
def test_two_approvals_racing_leave_one_holder(
    new_database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two managers approve rival registrations of one customer at the same moment, on two
    real connections: exactly one is approved, the other is refused (and turned conflict).
    The rules are slowed down so that both decide before either writes, unless the
    customer's lock makes the second wait."""
    import time

    import sync.registrations as module
    from sync.store import make_engine, session_factory

    decide = module.approve

    def slow_approve(*args: Any, **kwargs: Any) -> Any:
        decision = decide(*args, **kwargs)
        time.sleep(0.3)  # both would now write what they decided on stale facts
        return decision

    monkeypatch.setattr(module, "approve", slow_approve)

    url = new_database("postgres", migrated=True)
    engines = [make_engine(url) for _ in range(2)]
    try:
        factories = [session_factory(engine) for engine in engines]
        partners(factories[0], "ACME", "INITECH")
        ids = [
            service(factories[0]).submit(partner_id=p, customer_name="Globex",
                                         customer_domain=d, actor="cli")["id"]
            for p, d in (("ACME", "globex.com"), ("INITECH", None))
        ]  # fmt: skip
        start = threading.Barrier(2)
        outcomes: list[str] = []

        def approve(index: int) -> None:
            start.wait()
            try:
                service(factories[index]).approve(ids[index], actor=f"manager{index}")
                outcomes.append("approved")
            except Conflict as exc:
                outcomes.append(f"refused: {exc}")

        threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(o.split(":")[0] for o in outcomes) == ["approved", "refused"]
        with factories[0]() as session:
            statuses = sorted(r.status.value for r in session.scalars(select(Registration)))
        assert statuses == ["approved", "conflict"]
    finally:
        for engine in engines:
            engine.dispose()


def test_a_dry_run_says_the_outcome_and_writes_nothing(store: sessionmaker[Session]) -> None:
    partners(store, "ACME", "INITECH")
    regs = service(store)
    holder = regs.submit(partner_id="ACME", customer_name="Globex", customer_domain="globex.com",
                         actor="cli")  # fmt: skip
    regs.approve(holder["id"], actor="m")
    checked = regs.check(partner_id="INITECH", customer_name="Globex GmbH",
                         customer_domain="www.globex.com")  # fmt: skip
    assert (checked["status"], checked["reason"], checked["conflict_with"]) == (
        "conflict", "conflict", holder["id"])  # fmt: skip
    assert checked["matched"] == [f"domain globex.com = registration {holder['id']}"]
    with store() as session:
        assert session.scalar(select(func.count()).select_from(Registration)) == 1


def test_a_dry_run_reads_the_partner_with_the_customer(store: sessionmaker[Session]) -> None:
    """The check reads the partner in the same statement as the customer's situation:
    its tier protects (auto-approve), its state rejects, and an unknown one is NotFound,
    with and without customer keys."""
    partners(store, "ACME")
    auto = service(store, auto_approve=True)
    approved = auto.check(partner_id="ACME", customer_name="Globex", customer_domain="globex.com")
    assert (approved["status"], approved["protected_until"]) == (
        "approved", NOW.date() + timedelta(days=PROGRAM.protection_days["gold"]))  # fmt: skip
    deactivate_partner(store, "ACME", actor="t")
    refused = auto.check(partner_id="ACME", customer_name="Globex", customer_domain="globex.com")
    assert (refused["status"], refused["reason"]) == ("rejected", "partner_inactive")
    for name in ("Globex", "Inc."):  # "Inc." gives no customer key at all
        with pytest.raises(NotFound, match="no partner 'NOPE'"):
            auto.check(partner_id="NOPE", customer_name=name)


def test_the_fuzzy_index_holds_live_claims_only(store: sessionmaker[Session]) -> None:
    """A registration's name words are indexed while it is live and leave when it ends; a
    rejected submission never enters; an ended claim is never a fuzzy match."""
    from sync.store import RegistrationToken

    partners(store, "ACME", "INITECH")
    regs = service(store, fuzzy_threshold=85, min_amount=Decimal("100"))

    def indexed() -> dict[int, set[str]]:
        with store() as session:
            out: dict[int, set[str]] = {}
            for token, rid in session.execute(
                select(RegistrationToken.token, RegistrationToken.registration_id)
            ):
                out.setdefault(rid, set()).add(token)
            return out

    live = regs.submit(partner_id="ACME", customer_name="Northwind Traders", amount="500",
                       currency="USD", actor="cli")  # fmt: skip
    small = regs.submit(partner_id="ACME", customer_name="Contoso Pharma", amount="5",
                        currency="USD", actor="cli")  # fmt: skip
    assert small["status"] == "rejected"
    assert indexed() == {live["id"]: {"northwind", "traders"}}
    close = regs.check(partner_id="INITECH", customer_name="Northwind Trader", amount="500",
                       currency="USD")  # fmt: skip
    assert (close["status"], close["reason"]) == ("conflict", "possible_conflict")
    regs.withdraw(live["id"], actor="acme")
    assert indexed() == {}
    after = regs.check(partner_id="INITECH", customer_name="Northwind Trader", amount="500",
                       currency="USD")  # fmt: skip
    assert after["status"] == "pending"


def test_fuzzy_candidates_exclude_the_partner_and_claims_a_domain_decides(
    store: sessionmaker[Session],
) -> None:
    """A name close to the partner's own claim, or to a claim with a domain when the
    submission has one too, is no possible conflict."""
    partners(store, "ACME", "INITECH")
    regs = service(store, fuzzy_threshold=85)
    regs.submit(partner_id="ACME", customer_name="Northwind Traders", actor="cli")
    regs.submit(partner_id="INITECH", customer_name="Fabrikam Works",
                customer_domain="fabrikam.com", actor="cli")  # fmt: skip
    own = regs.check(partner_id="ACME", customer_name="Northwind Trader")
    assert own["status"] == "pending"
    both_domains = regs.check(partner_id="ACME", customer_name="Fabrikam Work",
                              customer_domain="fabrikam-works.de")  # fmt: skip
    assert both_domains["status"] == "pending"
    one_domain = regs.check(partner_id="ACME", customer_name="Fabrikam Work")
    assert (one_domain["status"], one_domain["reason"]) == ("conflict", "possible_conflict")
