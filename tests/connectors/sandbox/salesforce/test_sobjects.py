"""Salesforce sObjects, describe, updated/deleted and errors, through simple-salesforce."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from connectors.sandbox.core import Sandbox
from connectors.sandbox.knobs import parse_faults
from connectors.sandbox.salesforce.org import case_safe_id

VALID = {"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2026-06-30"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def test_case_safe_ids() -> None:
    """18-character ids carry Salesforce's case-safety checksum."""
    assert case_safe_id("001A0000006Vm9r") == "001A0000006Vm9rIAC"
    assert case_safe_id("003000000000000") == "003000000000000AAA"


def test_crud_and_system_fields(sandbox: Sandbox, sf: Salesforce) -> None:
    """Create, get, update, delete; every write bumps SystemModstamp and LastModifiedDate."""
    clock = Clock()
    sandbox.clock = clock
    created = sf.Opportunity.create({**VALID, "Amount": 500})
    assert created["success"] is True
    record_id = created["id"]
    assert len(record_id) == 18
    assert record_id.startswith("006")
    row = sf.Opportunity.get(record_id)
    assert (row["Amount"], row["IsClosed"], row["SystemModstamp"]) == (
        500.0,
        False,
        "2026-03-01T12:00:00.000+0000",
    )
    clock.now += timedelta(minutes=5)
    assert sf.Opportunity.update(record_id, {"StageName": "Closed Won"}) == 204
    row = sf.Opportunity.get(
        record_id, params={"fields": "IsWon,IsClosed,SystemModstamp,LastModifiedDate"}
    )
    assert (row["IsWon"], row["IsClosed"]) == (True, True)
    assert row["SystemModstamp"] == row["LastModifiedDate"] == "2026-03-01T12:05:00.000+0000"
    assert sf.Opportunity.get(record_id[:15])["Id"] == record_id  # 15-character ids work
    assert sf.Opportunity.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.get(record_id)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.update(record_id, {"Name": "again"})
    assert info.value.content[0]["errorCode"] == "ENTITY_IS_DELETED"


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        pytest.param({**VALID, "Nope__c": 1}, "INVALID_FIELD", ["Nope__c"], id="unknown-field"),
        pytest.param(
            {**VALID, "IsWon": True}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsWon"], id="read-only"
        ),
        pytest.param(
            {**VALID, "SystemModstamp": "2026-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["SystemModstamp"],
            id="system-field",
        ),
        pytest.param(
            {"Name": "x"}, "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"], id="required"
        ),
        pytest.param(
            {**VALID, "Amount": "lots"},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["Amount"],
            id="bad-number",
        ),
        pytest.param(
            {**VALID, "CloseDate": "30/06/2026"},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["CloseDate"],
            id="bad-date",
        ),
        pytest.param(
            {**VALID, "Paid_Date__c": 5},
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            ["Paid_Date__c"],
            id="number-for-date",
        ),
        pytest.param(
            {**VALID, "StageName": "Dreaming"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
            id="restricted-picklist",
        ),
        pytest.param(
            {**VALID, "AccountId": "not-an-id"},
            "MALFORMED_ID",
            ["AccountId"],
            id="malformed-reference",
        ),
        pytest.param(
            {**VALID, "Registered_Partner__c": "x" * 65},
            "STRING_TOO_LONG",
            ["Registered_Partner__c"],
            id="too-long",
        ),
    ],
)
def test_rejected_writes(
    sf: Salesforce, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    """Each invalid write is a 400 with Salesforce's error code and the fields named."""
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.create(body)
    error = info.value.content[0]
    assert error["errorCode"] == code
    assert error["fields"] == fields


@pytest.mark.parametrize(
    ("call", "exception", "code"),
    [
        pytest.param(
            lambda sf: sf.Opportunity.get("006000000000000"),
            SalesforceResourceNotFound,
            "NOT_FOUND",
            id="not-found",
        ),
        pytest.param(
            lambda sf: sf.Opportunity.get("xyz"),
            SalesforceMalformedRequest,
            "MALFORMED_ID",
            id="malformed-id",
        ),
        pytest.param(
            lambda sf: sf.Opportunity.get("001000000000000"),
            SalesforceMalformedRequest,
            "MALFORMED_ID",
            id="account-id-for-opportunity",
        ),
        pytest.param(
            lambda sf: sf.Widget__c.describe(),
            SalesforceResourceNotFound,
            "NOT_FOUND",
            id="unknown-object",
        ),
        pytest.param(
            lambda sf: sf.restful("nothing/here"),
            SalesforceResourceNotFound,
            "NOT_FOUND",
            id="unknown-path",
        ),
    ],
)
def test_error_statuses_map_to_client_exceptions(
    sf: Salesforce, call: Callable[[Salesforce], Any], exception: type[SalesforceError], code: str
) -> None:
    """Statuses map to simple-salesforce's exceptions, with JSON error arrays."""
    with pytest.raises(exception) as info:
        call(sf)
    assert info.value.content[0]["errorCode"] == code


def test_lock_fault_on_single_write(sandbox: Sandbox, sf: Salesforce) -> None:
    """With lock:1 every record write fails with UNABLE_TO_LOCK_ROW."""
    sandbox.reconfigure(faults=parse_faults("lock:1"))
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.create(VALID)
    assert info.value.content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"


def test_upsert_by_external_id(sandbox: Sandbox, sf: Salesforce) -> None:
    """Upsert creates (201) then updates (200); an ambiguous key is 300; a non-key is 404."""
    assert sf.Opportunity.upsert("External_Id__c/hs-1", VALID) == 201
    assert sf.Opportunity.upsert("External_Id__c/hs-1", {"Name": "Renamed"}) == 200
    row = sf.Opportunity.get_by_custom_id("External_Id__c", "hs-1")
    assert row["Name"] == "Renamed"
    sandbox.salesforce.insert_many("Opportunity", [
        {"Name": n, "StageName": "Prospecting", "CloseDate": date(2026, 1, 1), "External_Id__c": "dup"}
        for n in ("a", "b")])  # fmt: skip
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Opportunity.upsert("External_Id__c/dup", {"Name": "?"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.upsert("Name/whatever", VALID)


def test_describe_is_truthful(sf: Salesforce) -> None:
    """describe lists every field with type, updateability, picklist values, references."""
    fields = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert fields["Amount"]["type"] == "currency"
    assert fields["IsWon"]["updateable"] is False
    assert fields["Payout_Status__c"]["custom"] is True
    assert [v["value"] for v in fields["Payout_Status__c"]["picklistValues"]] == [
        "Accrued",
        "Approved",
        "Scheduled",
        "Paid",
        "Reversed",
    ]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["External_Id__c"]["externalId"] is True
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Opportunity", "Account"} <= names


def test_updated_and_deleted(sandbox: Sandbox, sf: Salesforce) -> None:
    """updated/ and deleted/ list ids changed or deleted in the window."""
    clock = Clock()
    sandbox.clock = clock
    keep, gone = (sf.Opportunity.create(VALID)["id"] for _ in range(2))
    clock.now += timedelta(hours=1)
    sf.Opportunity.update(keep, {"Name": "changed"})
    sf.Opportunity.delete(gone)
    start, end = clock.now - timedelta(minutes=1), clock.now + timedelta(minutes=1)
    assert sf.Opportunity.updated(start, end)["ids"] == [keep]
    deleted = sf.Opportunity.deleted(start, end)["deletedRecords"]
    assert [d["id"] for d in deleted] == [gone]
    assert deleted[0]["deletedDate"] == "2026-03-01T13:00:00.000+0000"
