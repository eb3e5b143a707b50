"""Deals registered from the CRM in batches (``sync.deal_links.link_deals``), on SQLite and
PostgreSQL: the facts a batch looks up together give the same decisions as one submission."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.deal_links import _deals, link_deals
from sync.partners import PartnerInput, add_partner
from sync.registrations import RegistrationService
from sync.settings import ProgramSettings
from sync.store import Crm, Opportunity, Registration, transaction

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
PROGRAM = ProgramSettings(fuzzy_threshold=0)


def deal(number: int, name: str, domain: str | None, partner: str | None) -> Opportunity:
    from rules.matching import domain_key, name_key

    return Opportunity(
        crm=Crm.SALESFORCE, crm_id=f"006X{number:05d}", name=f"{name} deal", account_name=name,
        account_domain=domain, customer_name_key=name_key(name),
        customer_domain_key=domain_key(domain), partner_ref=partner, partner_id=partner,
        crm_modified_at=NOW, crm_values={},
    )  # fmt: skip


def register(
    store: sessionmaker[Session],
    opportunities: Sequence[Opportunity],
    program: ProgramSettings = PROGRAM,
) -> list[Any]:
    """Store the deals, register the partner ones in one batch; their registrations."""
    with transaction(store) as session:
        session.add_all(opportunities)
        session.flush()
        ids = [o.id for o in opportunities if o.partner_id]
        link_deals(session, _deals(session, ids), program, NOW, actor="crm:salesforce")
    with store() as session:
        rows = session.execute(
            select(Registration.opportunity_id, Registration.status, Registration.reason)
        ).all()
        by_deal = {r.opportunity_id: (r.status.value, r.reason) for r in rows}
        return [by_deal.get(i) for i in ids]


@pytest.fixture
def partners(store: sessionmaker[Session]) -> sessionmaker[Session]:
    for partner_id in ("ACME", "INITECH"):
        add_partner(store, PartnerInput(partner_id, partner_id.title(), "gold"), PROGRAM,
                    actor="test")  # fmt: skip
    return store


@pytest.mark.parametrize(
    ("direct", "partner_deal", "outcome"),
    [
        pytest.param([("Globex", "globex.com")], ("Globex", "www.globex.com"),
                     ("conflict", "channel_conflict"), id="same-domain"),
        pytest.param([("Globex", "globex.com")], ("Globex Inc", None),
                     ("conflict", "channel_conflict"), id="no-domain-on-the-partner-deal"),
        pytest.param([("Globex", None)], ("Globex", "globex.com"),
                     ("conflict", "channel_conflict"), id="no-domain-on-the-direct-deal"),
        pytest.param([("Globex", "globex.de")], ("Globex", "globex.com"), ("pending", None),
                     id="same-name-other-domain"),
        pytest.param([("Globex", f"globex{n}.de") for n in range(8)] + [("Globex", None)],
                     ("Globex", "globex.com"), ("conflict", "channel_conflict"),
                     id="the-one-without-domain-among-many-with-others"),
    ],
)  # fmt: skip
def test_direct_deals_found_by_the_batch(
    partners: sessionmaker[Session],
    direct: list[tuple[str, str | None]],
    partner_deal: tuple[str, str | None],
    outcome: tuple[str, str | None],
) -> None:
    rows = [deal(n, name, domain, None) for n, (name, domain) in enumerate(direct)]
    rows.append(deal(99, *partner_deal, "ACME"))
    assert register(partners, rows) == [outcome]


@pytest.mark.parametrize("fuzzy", [0, 90], ids=["exact", "fuzzy"])
def test_claims_the_batch_decides_on(partners: sessionmaker[Session], fuzzy: int) -> None:
    """A rival's pending claim changes nothing, its approved one is a conflict, the
    partner's own live claim is linked (not a duplicate), a second deal of the partner on
    that customer is a duplicate; one batch sees what the deals before it decided (with a
    fuzzy threshold, every deal is decided while the batch loads, and decided again when
    a deal before it changed its customer's claims)."""
    regs = RegistrationService(partners, PROGRAM, clock=lambda: NOW)
    regs.submit(partner_id="INITECH", customer_name="Pending Co", customer_domain="pending.com",
                actor="cli")  # fmt: skip
    held = regs.submit(partner_id="INITECH", customer_name="Held Co", customer_domain="held.com",
                       actor="cli")  # fmt: skip
    regs.approve(held["id"], actor="manager")
    own = regs.submit(partner_id="ACME", customer_name="Own Co", customer_domain="own.com",
                      actor="cli")  # fmt: skip
    outcomes = register(partners, [
        deal(1, "Pending Co", "pending.com", "ACME"),
        deal(2, "Held Co", "held.com", "ACME"),
        deal(3, "Own Co", "own.com", "ACME"),
        deal(4, "New Co", "new.com", "ACME"),
        deal(5, "New Co", "new.com", "ACME"),
    ], ProgramSettings(fuzzy_threshold=fuzzy, register_from_crm=True))  # fmt: skip
    assert outcomes[0] == ("pending", None)
    assert outcomes[1] == ("conflict", "conflict")
    assert outcomes[2] == ("pending", None)
    assert regs.get(own["id"])["opportunity_id"] is not None
    assert outcomes[3] == ("pending", None)
    assert outcomes[4] == ("rejected", "duplicate")


@pytest.mark.parametrize("fuzzy", [0, 90], ids=["exact", "fuzzy"])
def test_a_deal_closed_earlier_in_the_batch_frees_its_customer(
    partners: sessionmaker[Session], fuzzy: int
) -> None:
    """A rival's approved registration holds the customer until its deal is lost; a deal
    of the partner later in the same batch is registered on a free customer (pending),
    not held as a conflict with the claim that just ended."""
    program = ProgramSettings(fuzzy_threshold=fuzzy, register_from_crm=True)
    rival = deal(1, "Held Co", "held.com", "INITECH")
    assert register(partners, [rival], program) == [("pending", None)]
    regs = RegistrationService(partners, program, clock=lambda: NOW)
    with partners() as session:
        held = session.scalars(select(Registration.id)).one()
    regs.approve(held, actor="manager")
    with transaction(partners) as session:
        lost = session.get(Opportunity, rival.id)
        assert lost is not None
        lost.is_closed = True
        session.add(deal(2, "Held Co", "held.com", "ACME"))
        session.flush()
        ids = [rival.id, *session.scalars(select(Opportunity.id).where(Opportunity.id != rival.id))]
        counts = link_deals(session, _deals(session, ids), program, NOW, actor="crm")
    assert counts["closed"] == 1
    assert counts["registered_pending"] == 1
    with partners() as session:
        rows = session.execute(select(Registration.partner_id, Registration.status)).all()
    assert {p: status.value for p, status in rows} == {"INITECH": "lost", "ACME": "pending"}


def test_the_batch_keeps_the_fuzzy_index_to_live_claims(partners: sessionmaker[Session]) -> None:
    """Registered from the CRM: a live registration's words are indexed, a rejected one's
    never are, and a deal that closes takes its registration's words out."""
    from sync.store import RegistrationToken

    opened = [deal(1, "Northwind Traders", "northwind.com", "ACME"),
              deal(2, "Northwind Traders", "northwind.com", "ACME")]  # fmt: skip
    assert register(partners, opened) == [("pending", None), ("rejected", "duplicate")]

    def indexed() -> set[str]:
        with partners() as session:
            return set(session.scalars(select(RegistrationToken.token)))

    assert indexed() == {"northwind", "traders"}
    with transaction(partners) as session:
        first = session.get(Opportunity, opened[0].id)
        assert first is not None
        first.is_closed = first.is_won = True
        session.flush()
        counts = link_deals(session, _deals(session, [first.id]), PROGRAM, NOW, actor="crm")
    assert counts["closed"] == 1
    assert indexed() == set()


def test_fuzzy_matches_of_the_batch_are_a_submissions(
    partners: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fuzzy matching on, each deal registered in a batch gets the outcome a
    submission of it would get (``check``): the same candidates (the newest few sharing a
    word, those without a domain for a deal with one), the same scores."""
    from sync import deal_links, registration_facts

    monkeypatch.setattr(deal_links, "FUZZY_CANDIDATES", 3)  # a cap the data exceeds
    monkeypatch.setattr(registration_facts, "FUZZY_CANDIDATES", 3)
    registration_facts._fuzzy_statement.cache_clear()
    program = ProgramSettings(fuzzy_threshold=80)
    regs = RegistrationService(partners, program, clock=lambda: NOW)
    for name, domain in [
        ("Northwind Traders", None), ("Northwind Trading", None), ("Contoso Pharma", "contoso.com"),
        ("Contoso Pharmaceuticals", None), ("Northwind Alpha", None), ("Northwind Beta", "nb.com"),
        ("Northwind Gamma", None), ("Tailspin Toys", None),
    ]:  # fmt: skip
        regs.submit(partner_id="INITECH", customer_name=name, customer_domain=domain, actor="cli")
    deals = [
        ("Northwind Trader", None), ("Northwind Traders Inc", "northwind.com"),
        ("Contoso Pharmaceutical", "contoso.io"), ("Contosso Pharma", None),
        ("Tailspin Toy", "tailspin.com"), ("Tailspin Toyz", None), ("Fabrikam", None),
    ]  # fmt: skip
    try:
        expected = [
            regs.check(partner_id="ACME", customer_name=name, customer_domain=domain)
            for name, domain in deals
        ]
        with transaction(partners) as session:
            rows = [deal(n, name, domain, "ACME") for n, (name, domain) in enumerate(deals)]
            session.add_all(rows)
            session.flush()
            ids = [o.id for o in rows]
            link_deals(session, _deals(session, ids), program, NOW, actor="crm:salesforce")
    finally:
        registration_facts._fuzzy_statement.cache_clear()
    with partners() as session:
        found = {
            r.opportunity_id: (r.status.value, r.reason, r.conflict_with)
            for r in session.scalars(select(Registration).where(Registration.partner_id == "ACME"))
        }
    assert [found[i] for i in ids] == [
        (e["status"], e["reason"], e["conflict_with"]) for e in expected
    ]
    assert sum(e["reason"] == "possible_conflict" for e in expected) >= 3
