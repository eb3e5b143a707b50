"""Partners and blocked accounts: checked input, all-or-nothing imports, deals linked at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.partners import (
    PartnerInput,
    PartnersFileError,
    add_partner,
    block_account,
    blocked_accounts,
    deactivate_partner,
    import_partners,
    list_partners,
    show_partner,
    unblock_account,
)
from sync.program import NotFound, ProgramError
from sync.settings import ProgramSettings
from sync.store import AuditEntry, Crm, Opportunity, Partner, transaction

PROGRAM = ProgramSettings()
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def deal(session: Session, crm: Crm, crm_id: str, partner_ref: str | None) -> None:
    session.add(Opportunity(crm=crm, crm_id=crm_id, name=f"Deal {crm_id}", partner_ref=partner_ref,
                            crm_modified_at=NOW, crm_values={}))  # fmt: skip


def test_a_new_partner_is_linked_to_the_deals_naming_it(store: sessionmaker[Session]) -> None:
    """The deals whose partner reference is the partner's id or its account id in that CRM
    (a Salesforce id in either of its forms) are linked when it is added; others are not."""
    with transaction(store) as session:
        deal(session, Crm.SALESFORCE, "006A", "0015g00000Ab1cD")  # the 15-character form
        deal(session, Crm.SALESFORCE, "006B", "0015g00000Ab1cDAAR")
        deal(session, Crm.HUBSPOT, "1", "4242")
        deal(session, Crm.HUBSPOT, "2", "ACME")
        deal(session, Crm.HUBSPOT, "3", "0015g00000Ab1cDAAR")  # a Salesforce id on HubSpot
        deal(session, Crm.SALESFORCE, "006C", "4242")  # a HubSpot id on Salesforce
        deal(session, Crm.SALESFORCE, "006D", None)
    called: list[list[int]] = []
    added = add_partner(
        store, PartnerInput("ACME", "Acme Cloud", "gold", "0015g00000Ab1cDAAR", "4242"), PROGRAM,
        actor="cli:test", on_linked=lambda session, ids: called.append(sorted(ids)),
    )  # fmt: skip
    assert added["deals_linked"] == 4
    with store() as session:
        linked = set(
            session.scalars(select(Opportunity.crm_id).where(Opportunity.partner_id == "ACME"))
        )
        actions = session.scalars(select(AuditEntry.action)).all()
    assert linked == {"006A", "006B", "1", "2"}
    assert [len(ids) for ids in called] == [4]
    assert actions == ["add"]
    assert show_partner(store, "ACME")["deals"] == 4


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param(PartnerInput("AC ME", "x", "gold"), "id: a partner id is 1 to 32", id="space"),
        pytest.param(PartnerInput("ACME'--", "x", "gold"), "id: a partner id", id="quote"),
        pytest.param(PartnerInput("A" * 33, "x", "gold"), "id: a partner id", id="too-long"),
        pytest.param(PartnerInput("ACME\x00", "x", "gold"), "id: a partner id", id="nul"),
        pytest.param(PartnerInput("ACME", "x", "platinum"),
                     r"tier: unknown tier 'platinum' \(known tiers: registered, silver, gold\)",
                     id="unknown-tier"),
        pytest.param(PartnerInput("ACME", "", "gold"), "name: required", id="no-name"),
        pytest.param(PartnerInput("ACME", "Acme\nLtd", "gold"), "name: control characters",
                     id="newline-in-name"),
    ],
)  # fmt: skip
def test_bad_partners_are_refused_and_nothing_written(
    store: sessionmaker[Session], given: PartnerInput, message: str
) -> None:
    with pytest.raises(ProgramError, match=message):
        add_partner(store, given, PROGRAM, actor="t")
    assert list_partners(store) == []


def test_a_partner_id_is_added_once_and_account_ids_are_not_shared(
    store: sessionmaker[Session],
) -> None:
    add_partner(store, PartnerInput("ACME", "Acme", "gold", hubspot_company_id="42"), PROGRAM,
                actor="t")  # fmt: skip
    with pytest.raises(ProgramError, match="partner ACME exists"):
        add_partner(store, PartnerInput("ACME", "Acme", "gold"), PROGRAM, actor="t")
    with pytest.raises(ProgramError, match="hubspot_company_id: 42 is partner ACME's already"):
        add_partner(store, PartnerInput("OTHER", "O", "gold", hubspot_company_id="42"), PROGRAM,
                    actor="t")  # fmt: skip


def test_an_import_with_bad_lines_names_each_and_imports_nothing(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    """Every bad line is reported with its number and reason; nothing is imported."""
    path = tmp_path / "partners.csv"
    path.write_text(
        "id,name,tier,salesforce_account_id,hubspot_company_id\n"
        "ACME,Acme Cloud,gold,,\n"
        "AC ME,Spaces,gold,,\n"
        "INITECH,Initech,platinum,,\n"
        "HOOLI,,silver,,\n"
        "ACME,Acme again,gold,,\n"
        'GLOBEX,"Robert\'); DROP TABLE partners;--",silver,,\n',
        encoding="utf-8",
    )
    with pytest.raises(PartnersFileError) as info:
        import_partners(store, path, PROGRAM, actor="t")
    assert info.value.problems == [
        "line 3: id: a partner id is 1 to 32 letters, digits, '.', '_' or '-' (got 'AC ME')",
        "line 4: tier: unknown tier 'platinum' (known tiers: registered, silver, gold)",
        "line 5: name: required",
        "line 6: id: ACME is on line 2 too",
    ]
    assert list_partners(store) == []


def test_an_import_upserts_by_id(store: sessionmaker[Session], tmp_path: Path) -> None:
    """Existing partners are updated, new ones added; hostile text is stored verbatim."""
    add_partner(store, PartnerInput("ACME", "Acme", "registered"), PROGRAM, actor="t")
    path = tmp_path / "partners.csv"
    path.write_text(
        "\ufeffid,name,tier\nACME,Acme Cloud,gold\n"
        'GLOBEX,"Robert\'); DROP TABLE partners;--",silver\n',
        encoding="utf-8",
    )
    assert import_partners(store, path, PROGRAM, actor="t") == {
        "created": 1, "updated": 1, "deals_linked": 0}  # fmt: skip
    partners = {p["id"]: p for p in list_partners(store)}
    assert partners["ACME"]["tier"] == "gold"
    assert partners["GLOBEX"]["name"] == "Robert'); DROP TABLE partners;--"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("name,tier\nAcme,gold\n", "line 1: missing column(s) id", id="no-id-column"),
        pytest.param("id,name,tier,colour\nA,B,gold,red\n", "line 1: unknown column(s) 'colour'",
                     id="unknown-column"),
        pytest.param("id,name,tier\nA,B,gold,extra\n", "line 2: more values than columns",
                     id="extra-values"),
        pytest.param("id,name,tier\n", "no partners in the file", id="empty"),
    ],
)  # fmt: skip
def test_malformed_partner_files(
    store: sessionmaker[Session], tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "p.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PartnersFileError) as info:
        import_partners(store, path, PROGRAM, actor="t")
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_deactivation_and_unknown_partners(store: sessionmaker[Session]) -> None:
    add_partner(store, PartnerInput("ACME", "Acme", "gold"), PROGRAM, actor="t")
    assert deactivate_partner(store, "ACME", actor="t", reason="contract ended")["active"] is False
    with pytest.raises(NotFound, match="no partner 'NOPE'"):
        deactivate_partner(store, "NOPE", actor="t")
    with store() as session:
        assert session.scalar(select(func.count()).select_from(Partner)) == 1


def test_blocked_accounts_by_registrable_domain(store: sessionmaker[Session]) -> None:
    """A block is keyed by the registrable domain of what is given; free mail is refused;
    blocking again changes it; unblocking removes it."""
    made = block_account(store, domain="https://shop.hooli.co.uk/about", kind="house",
                         name="Hooli UK Ltd", actor="t")  # fmt: skip
    assert made["domain"] == "hooli.co.uk"
    block_account(store, domain="jane@hooli.co.uk", kind="do_not_contact", actor="t")
    assert [(b["domain"], b["kind"]) for b in blocked_accounts(store)] == [
        ("hooli.co.uk", "do_not_contact")]  # fmt: skip
    with pytest.raises(ProgramError, match="names no customer domain"):
        block_account(store, domain="someone@gmail.com", kind="house", actor="t")
    with pytest.raises(ProgramError, match="kind: one of house, do_not_contact"):
        block_account(store, domain="hooli.com", kind="vip", actor="t")
    unblock_account(store, domain="hooli.co.uk", actor="t")
    assert blocked_accounts(store) == []
    with pytest.raises(NotFound, match=r"hooli\.co\.uk is not blocked"):
        unblock_account(store, domain="www.hooli.co.uk", actor="t")
