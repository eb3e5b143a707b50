"""Mapping files: the shipped ones compile; every malformed one is named key by key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sync.mapping import (
    DIRECTIONS,
    INBOUND,
    OUTBOUND,
    MappingError,
    RecordMappingError,
    load_mapping,
    parse_mapping,
)

REPO = Path(__file__).resolve().parents[3]
MINIMAL = """
crm = "salesforce"
object = "Opportunity"
[stages]
won = ["Closed Won"]
lost = ["Closed Lost"]
[inbound]
name = "Name"
stage = "StageName"
[outbound]
"""


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_shipped_mappings_compile(crm: str) -> None:
    """mappings/<crm>.toml compiles and maps every inbound field of the vocabulary."""
    mapping = load_mapping(REPO / "mappings" / f"{crm}.toml")
    assert mapping.crm == crm
    assert set(mapping.inbound) == set(INBOUND)
    assert {f.source for f in mapping.outbound.values()} <= set(OUTBOUND)
    assert len(mapping.read_fields()) == len(set(mapping.read_fields()))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("crm = [", "not valid TOML", id="broken-toml"),
        pytest.param(MINIMAL.replace('crm = "salesforce"', 'crm = "dynamics"'),
                     "crm: must be one of: salesforce, hubspot (got 'dynamics')", id="unknown-crm"),
        pytest.param(MINIMAL.replace('object = "Opportunity"', ""), "object: must name the CRM object",
                     id="missing-object"),
        pytest.param(MINIMAL + "\n[extras]\n", "extras: unknown key (expected one of: crm, object,",
                     id="unknown-top-level-key"),
        pytest.param(MINIMAL.replace("[inbound]", "[inbound]\namout = 'Amount'"),
                     "inbound.amout: unknown partnersync field (expected one of: name, amount,",
                     id="unknown-inbound-field"),
        pytest.param(MINIMAL.replace('name = "Name"', 'name = "Account.Owner.Name"'),
                     'inbound.name: must be a CRM field name or one relationship path',
                     id="deep-relationship-path"),
        pytest.param(MINIMAL.replace('name = "Name"', "name = 42"),
                     "inbound.name: must be a CRM field name", id="field-not-string"),
        pytest.param(MINIMAL.replace('name = "Name"', 'name = "Name; DROP"'),
                     "inbound.name: must be a CRM field name", id="hostile-field-name"),
        pytest.param(MINIMAL.replace('name = "Name"', 'name = "Name"\nstage2 = "X"'),
                     "inbound.stage2: unknown partnersync field", id="typo-field"),
        pytest.param(MINIMAL.replace('name = "Name"', ""), "inbound: must map 'name'",
                     id="name-not-mapped"),
        pytest.param(MINIMAL + '[inbound.direction]\nfield = "D__c"\nvalues = { "A" = "sideways" }\n',
                     "inbound.direction.values.A: unknown co-sell direction 'sideways' "
                     "(expected one of: " + ", ".join(DIRECTIONS) + ")", id="bad-direction-value"),
        pytest.param(MINIMAL + '[inbound.direction]\nfield = "D__c"\nmap = {}\n',
                     "inbound.direction: unknown key 'map' (expected: field, values, default)",
                     id="unknown-inbound-option"),
        pytest.param(MINIMAL + 'Payout_Status__c = { from = "payout.status", values = { payed = "Paid" } }',
                     "outbound.Payout_Status__c.values.payed: unknown payout state 'payed' "
                     "(expected one of: accrued, approved, scheduled, paid, reversed)",
                     id="unknown-payout-state"),
        pytest.param(MINIMAL + 'S__c = { from = "registration.status", values = { pending = "P" } }',
                     "outbound.S__c.values: no CRM value for registration state approved, rejected,",
                     id="missing-state-values"),
        pytest.param(MINIMAL + 'X__c = "payout.amout"',
                     "outbound.X__c: unknown partnersync value 'payout.amout' (expected one of:",
                     id="unknown-outbound-source"),
        pytest.param(MINIMAL + 'X__c = { from = "commission.accrued", values = { a = "b" } }',
                     "outbound.X__c.values: commission.accrued has no fixed set of values",
                     id="values-on-money"),
        pytest.param(MINIMAL + '"Account.Name" = "registration.status"',
                     'outbound."Account.Name": must be a field of the object itself',
                     id="outbound-relationship"),
        pytest.param(MINIMAL + 'X__c = { source = "payout.status" }',
                     "outbound.X__c: unknown key 'source' (expected: from, values)",
                     id="unknown-outbound-option"),
        pytest.param(MINIMAL.replace('won = ["Closed Won"]', "won = []"),
                     "stages: list the won stages", id="no-won-stages"),
        pytest.param(MINIMAL.replace('lost = ["Closed Lost"]', 'lost = ["closed won"]'),
                     "stages: a stage cannot be both won and lost: closed won", id="stage-both"),
        pytest.param(MINIMAL.replace('won = ["Closed Won"]', 'won = "Closed Won"'),
                     "stages.won: must be a list of stage names", id="stages-not-list"),
        pytest.param("outbound = 3\n" + MINIMAL.replace("[outbound]", ""), "outbound: must be a table",
                     id="outbound-not-table"),
        pytest.param(MINIMAL + "[create]\n[create.fields]\n",
                     "create.external_id: must name a unique / external-id field", id="create-no-key"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c; DROP"\n',
                     "create.external_id: must name a unique / external-id field",
                     id="create-hostile-key"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c"\nupsert = true\n',
                     "create.upsert: unknown key", id="create-unknown-key"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c"\nfields = 3\n',
                     "create.fields: must be a table", id="create-fields-not-table"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c"\n[create.fields]\nName = "registration.nam"\n',
                     "create.fields.Name: unknown registration value 'registration.nam' (expected one "
                     "of: registration.customer_name,", id="create-unknown-source"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c"\n[create.fields]\nAmount = { value = 1.5 }\n',
                     "create.fields.Amount.value: must be a string, an integer or true/false (got 1.5)",
                     id="create-float-constant"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c"\n[create.fields]\nX__c = { from = "registration.id" }\n',
                     'create.fields.X__c: a table here must be { value = "a constant" }',
                     id="create-table-without-value"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c"\n[create.fields]\nK__c = "registration.id"\n',
                     "create.fields.K__c: is the external id", id="create-writes-its-key"),
        pytest.param(MINIMAL + 'R__c = "registration.status"\n[create]\nexternal_id = "K__c"\n'
                     '[create.fields]\nR__c = "registration.id"\n',
                     "create.fields.R__c: is written by [outbound] already", id="create-and-outbound"),
        pytest.param(MINIMAL + '[create]\nexternal_id = "K__c"\n[create.fields]\n"Account.Name" = "registration.id"\n',
                     'create.fields."Account.Name": must be a field of the object itself',
                     id="create-relationship"),
        pytest.param(MINIMAL.replace('name = "Name"', 'name = "Name"\nregistration_key = "Other__c"')
                     + '[create]\nexternal_id = "K__c"\n',
                     "inbound.registration_key: must read the [create] external id 'K__c'",
                     id="create-key-read-elsewhere"),
    ],
)  # fmt: skip
def test_malformed_mappings(text: str, problem: str) -> None:
    """Each malformed mapping names the file, the key path and what is allowed."""
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "mappings/test.toml")
    lines = str(info.value).splitlines()
    assert any(line.startswith("mappings/test.toml: ") and problem in line for line in lines), lines


def test_create_section_compiles_and_reads_its_key() -> None:
    """[create] is optional; with it, the mirror reads the external id as registration_key
    and a new deal's values come from the registration and the constants."""
    assert parse_mapping(MINIMAL).create is None
    assert "registration_key" not in parse_mapping(MINIMAL).inbound
    mapping = parse_mapping(
        MINIMAL + '[create]\nexternal_id = "K__c"\n[create.fields]\nName = "registration.customer_name"\n'
        'Amount = "registration.amount"\nCloseDate = "registration.close_date"\n'
        'StageName = { value = "Prospecting" }\nFlag__c = { value = true }\n'
    )  # fmt: skip
    assert mapping.create is not None
    assert mapping.inbound["registration_key"].crm_field == "K__c"
    assert "K__c" in mapping.read_fields()
    values = mapping.create.values({
        "registration.customer_name": "Initech", "registration.amount": "10.50",
        "registration.close_date": "2027-01-31",
    })  # fmt: skip
    assert values == {"Name": "Initech", "Amount": Decimal("10.50"),
                      "CloseDate": date(2027, 1, 31), "StageName": "Prospecting",
                      "Flag__c": True}  # fmt: skip


def test_outbound_is_optional() -> None:
    """A mapping without [outbound] only mirrors; it writes nothing back."""
    assert parse_mapping(MINIMAL.replace("[outbound]", "")).outbound == {}


def test_every_problem_is_reported_at_once() -> None:
    """All problems of a file are listed together, not one per run."""
    text = MINIMAL.replace('crm = "salesforce"', 'crm = "x"') + 'A__c = "nope"\nB__c = "nah"\n'
    with pytest.raises(MappingError) as info:
        parse_mapping(text, "m.toml")
    assert len(info.value.problems) == 3


def test_missing_file() -> None:
    """A mapping file that cannot be read is a MappingError naming it."""
    with pytest.raises(MappingError, match=r"mappings/none\.toml: cannot read"):
        load_mapping("mappings/none.toml")


SF_RECORD: dict[str, Any] = {
    "Name": "Globex - Cloud Platform",
    "Amount": 125000.5,
    "CurrencyIsoCode": "eur",
    "StageName": "Closed Won",
    "CloseDate": "2026-03-31",
    "IsWon": True,
    "IsClosed": True,
    "Account.Name": "Globex Corporation",
    "Account.Website": "www.globex.example",
    "Partner_Account__c": "001000000000001AAA",
    "Practice__c": "Cloud",
    "Co_Sell_Direction__c": "Partner Sourced / Direct Sold",
    "Paid_Amount__c": None,
    "Paid_Date__c": None,
    "Cost__c": 50000,
}
HS_RECORD: dict[str, Any] = {
    "dealname": "Globex - Cloud Platform",
    "amount": "125000.50",
    "deal_currency_code": "EUR",
    "dealstage": "closedwon",
    "closedate": "2026-03-31T00:00:00Z",
    "hs_is_closed_won": "true",
    "hs_is_closed": "true",
    "company.name": "Globex Corporation",
    "company.domain": "globex.example",
    "partner_company_id": "55",
    "practice": "Cloud",
    "co_sell_direction": "partner_sourced_direct_sold",
    "paid_amount": "",
    "paid_date": "1775001600000",
    "cost": "50000",
}


@pytest.mark.parametrize(
    ("crm", "record", "expected"),
    [
        pytest.param("salesforce", SF_RECORD, {
            "amount": Decimal("125000.5"), "currency": "EUR", "close_date": date(2026, 3, 31),
            "is_won": True, "direction": "partner_sourced_direct_sold", "cost": Decimal(50000),
            "paid_date": None, "account_domain": "www.globex.example"}, id="salesforce"),
        pytest.param("hubspot", HS_RECORD, {
            "amount": Decimal("125000.50"), "currency": "EUR", "close_date": date(2026, 3, 31),
            "is_won": True, "direction": "partner_sourced_direct_sold", "paid_amount": None,
            "paid_date": date(2026, 4, 1), "partner_ref": "55"}, id="hubspot"),
    ],
)  # fmt: skip
def test_apply_inbound(crm: str, record: dict[str, Any], expected: dict[str, Any]) -> None:
    """Raw CRM values become typed partnersync values through the shipped mappings."""
    mapped = load_mapping(REPO / "mappings" / f"{crm}.toml").apply_inbound(record)
    for key, value in expected.items():
        assert mapped[key] == value, key


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        pytest.param({"Amount": "lots"}, "amount (Amount): 'lots' is not a number", id="bad-amount"),
        pytest.param({"CloseDate": "2026-02-30"}, "close_date (CloseDate): '2026-02-30' is not a valid",
                     id="bad-date"),
        pytest.param({"Co_Sell_Direction__c": "Reseller"},
                     "direction (Co_Sell_Direction__c): unknown co-sell direction 'Reseller'",
                     id="unknown-direction"),
        pytest.param({"IsWon": "maybe"}, "is_won (IsWon): 'maybe' is not true or false", id="bad-bool"),
    ],
)  # fmt: skip
def test_unmappable_records(changes: dict[str, Any], problem: str) -> None:
    """A record with a bad value raises RecordMappingError naming field and CRM field."""
    mapping = load_mapping(REPO / "mappings" / "salesforce.toml")
    with pytest.raises(RecordMappingError) as info:
        mapping.apply_inbound({**SF_RECORD, **changes})
    assert problem in str(info.value)


def test_stages_decide_won_and_closed_when_not_mapped() -> None:
    """Without is_won / is_closed, [stages] decides them, case-insensitively."""
    mapping = parse_mapping(MINIMAL)
    assert mapping.apply_inbound({"Name": "x", "StageName": "closed won"})["is_won"] is True
    lost = mapping.apply_inbound({"Name": "x", "StageName": "Closed Lost"})
    assert (lost["is_won"], lost["is_closed"]) == (False, True)
    open_ = mapping.apply_inbound({"Name": "x", "StageName": "Prospecting"})
    assert (open_["is_won"], open_["is_closed"]) == (False, False)


def test_outbound_values_transform_states() -> None:
    """Outbound values go to their CRM fields through the value tables."""
    mapping = load_mapping(REPO / "mappings" / "salesforce.toml")
    out = mapping.outbound_values(
        {"registration.status": "conflict", "payout.status": "scheduled", "payout.reference": "R-1"}
    )
    assert out == {
        "Registration_Status__c": "Conflict",
        "Payout_Status__c": "Scheduled",
        "Payout_Reference__c": "R-1",
    }
