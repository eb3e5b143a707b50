"""`mappings check` online: mappings against the sandbox's live metadata, real clients."""

from __future__ import annotations

from pathlib import Path

from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from sandbox import SandboxServer
from sync.mapping import load_mapping, parse_mapping
from sync.mapping.check import check_mapping

REPO = Path(__file__).resolve().parents[3]


def test_shipped_mappings_match_the_sandbox(sandbox_server: SandboxServer) -> None:
    """Both shipped mappings pass every online check against the sandbox."""
    sf = SalesforceConnector(
        SalesforceConfig(instance_url=sandbox_server.url, session_id="sandbox")
    )
    hs = HubSpotConnector(HubSpotConfig(base_url=sandbox_server.url, access_token="sandbox"))
    assert check_mapping(load_mapping(REPO / "mappings/salesforce.toml"), sf) == []
    assert check_mapping(load_mapping(REPO / "mappings/hubspot.toml"), hs) == []


def test_problems_against_salesforce_metadata(sandbox_server: SandboxServer) -> None:
    """Missing fields, read-only targets, short picklists and wrong types are each reported."""
    text = """
crm = "salesforce"
object = "Opportunity"
[inbound]
name = "Name"
amount = "StageName"
close_date = "CloseDate"
is_won = "IsWon"
is_closed = "IsClosed"
practice = "Practise__c"
account_name = "Account.Nmae"
[outbound]
IsWon = "registration.status"
Payout_Status__c = { from = "payout.status", values = { accrued = "Accrued", approved = "Approved", scheduled = "Scheduled", paid = "Settled", reversed = "Reversed" } }
Protected_Until__c = "commission.accrued"
"""
    sf = SalesforceConnector(
        SalesforceConfig(instance_url=sandbox_server.url, session_id="sandbox")
    )
    problems = [str(p) for p in check_mapping(parse_mapping(text, "m.toml"), sf)]
    expected = [
        "m.toml: inbound.amount: StageName is a picklist field, which cannot hold a partnersync decimal value",
        "m.toml: inbound.practice: Opportunity has no field 'Practise__c'",
        "m.toml: inbound.account_name: Opportunity has no field 'Account.Nmae'",
        "m.toml: outbound.IsWon: IsWon is not updateable (read-only or calculated)",
        "m.toml: outbound.IsWon: IsWon is a boolean field, which cannot hold a partnersync text value",
        "m.toml: outbound.Payout_Status__c: Payout_Status__c picklist lacks 'Settled'",
        "m.toml: outbound.Protected_Until__c: Protected_Until__c is a date field, which cannot hold a partnersync decimal value",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
    assert len(problems) == len(expected)


def test_create_problems_against_the_crm_metadata(sandbox_server: SandboxServer) -> None:
    """A [create] keyed on a field that is no external id, writing a field a create cannot
    set, a picklist value the CRM lacks, and leaving out what Salesforce requires."""
    text = """
crm = "salesforce"
object = "Opportunity"
[inbound]
name = "Name"
is_won = "IsWon"
is_closed = "IsClosed"
[create]
external_id = "Payout_Reference__c"
[create.fields]
Name = "registration.customer_name"
IsWon = "registration.id"
StageName = { value = "Dreaming" }
Amount = "registration.close_date"
"""
    sf = SalesforceConnector(
        SalesforceConfig(instance_url=sandbox_server.url, session_id="sandbox")
    )
    problems = [str(p) for p in check_mapping(parse_mapping(text, "m.toml"), sf)]
    expected = [
        "m.toml: create.external_id: Payout_Reference__c is not an external-id / unique field",
        "m.toml: create.fields.IsWon: IsWon cannot be set on create",
        "m.toml: create.fields.IsWon: IsWon is a boolean field, which cannot hold a partnersync "
        "text value",
        "m.toml: create.fields.StageName: StageName has no picklist value 'Dreaming'",
        "m.toml: create.fields.Amount: Amount is a currency field, which cannot hold a "
        "partnersync date value",
        "m.toml: create.fields: Opportunity requires CloseDate on create",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in problems), (line, problems)
    assert len(problems) == len(expected)
