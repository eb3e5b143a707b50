"""sObject records through simple-salesforce: CRUD, validation, upsert, describe, changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from connectors.transport import session_for
from sandbox.core import Sandbox
from sandbox.knobs import parse_faults
from sandbox.salesforce.org import SalesforceOrg
from sandbox.server import SandboxServer
from tests.sandbox.salesforce.helpers import (
    T0,
    VALID,
    Clock,
    code_of,
    collection,
    seed,
)

WIRE_T0 = "2026-03-01T12:00:00.000+0000"


def test_crud_round_trip(sf: Salesforce, clock: Clock) -> None:
    """Create (201), get, update (204), delete (204): ids, values and timestamps as Salesforce."""
    created = sf.Opportunity.create({**VALID, "Amount": 500, "Paid_Date__c": "2026-02-03"})
    assert created == {"id": created["id"], "success": True, "errors": []}
    record_id = created["id"]
    assert (len(record_id), record_id[:3]) == (18, "006")
    row = sf.Opportunity.get(record_id)
    assert row["attributes"] == {
        "type": "Opportunity",
        "url": f"/services/data/v59.0/sobjects/Opportunity/{record_id}",
    }
    assert (row["Amount"], row["Paid_Date__c"], row["IsClosed"]) == (500.0, "2026-02-03", False)
    assert row["CreatedDate"] == row["SystemModstamp"] == WIRE_T0
    clock.tick(minutes=5)
    assert sf.Opportunity.update(record_id, {"StageName": "Closed Won", "Amount": None}) == 204
    row = sf.Opportunity.get(
        record_id, params={"fields": "IsWon,Amount,SystemModstamp,CreatedDate"}
    )
    assert set(row) == {"attributes", "IsWon", "Amount", "SystemModstamp", "CreatedDate"}
    assert (row["IsWon"], row["Amount"]) == (True, None)
    assert row["SystemModstamp"] == "2026-03-01T12:05:00.000+0000"
    assert row["CreatedDate"] == WIRE_T0
    assert sf.Opportunity.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.Opportunity.get(record_id)
    assert code_of(info.value) == "NOT_FOUND"


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(lambda i: i[:15], id="15-chars"),
        pytest.param(lambda i: i.lower(), id="18-chars-case-folded"),
        pytest.param(lambda i: i, id="18-chars"),
    ],
)
def test_ids_in_any_accepted_form(
    org: SalesforceOrg, sf: Salesforce, form: Callable[[str], str]
) -> None:
    """A record is found by its 15-character id or its 18-character id in any case."""
    (record_id,) = seed(org, 1)
    assert sf.Opportunity.get(form(record_id))["Id"] == record_id


def _create(body: dict[str, Any]) -> Callable[[Salesforce, list[str]], Any]:
    return lambda sf, _ids: sf.Opportunity.create(body)


def _update(body: dict[str, Any]) -> Callable[[Salesforce, list[str]], Any]:
    return lambda sf, ids: sf.Opportunity.update(ids[0], body)


@pytest.mark.parametrize(
    ("call", "code", "fields"),
    [
        pytest.param(_create({**VALID, "Nope__c": 1}), "INVALID_FIELD", ["Nope__c"], id="unknown-field"),
        pytest.param(_create({**VALID, "IsWon": True}), "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsWon"], id="derived-field"),
        pytest.param(_create({**VALID, "Id": "006000000000000"}), "INVALID_FIELD_FOR_INSERT_UPDATE", ["Id"], id="id-on-create"),
        pytest.param(_create({**VALID, "SystemModstamp": "2026-01-01T00:00:00Z"}), "INVALID_FIELD_FOR_INSERT_UPDATE", ["SystemModstamp"], id="system-field"),
        pytest.param(_create({"Name": "x"}), "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"], id="required"),
        pytest.param(_create({**VALID, "Name": None}), "REQUIRED_FIELD_MISSING", ["Name"], id="required-null"),
        pytest.param(_create({**VALID, "Amount": "lots"}), "INVALID_TYPE_ON_FIELD_IN_RECORD", ["Amount"], id="string-for-currency"),
        pytest.param(_create({**VALID, "Amount": True}), "INVALID_TYPE_ON_FIELD_IN_RECORD", ["Amount"], id="bool-for-currency"),
        pytest.param(_create({**VALID, "CloseDate": "30/06/2026"}), "INVALID_TYPE_ON_FIELD_IN_RECORD", ["CloseDate"], id="bad-date"),
        pytest.param(_create({**VALID, "CloseDate": "2026-02-30"}), "INVALID_TYPE_ON_FIELD_IN_RECORD", ["CloseDate"], id="impossible-date"),
        pytest.param(_create({**VALID, "Paid_Date__c": 5}), "INVALID_TYPE_ON_FIELD_IN_RECORD", ["Paid_Date__c"], id="number-for-date"),
        pytest.param(_create({**VALID, "Name": 7}), "INVALID_TYPE_ON_FIELD_IN_RECORD", ["Name"], id="number-for-string"),
        pytest.param(_create({**VALID, "Amount": 1e20}), "NUMBER_OUTSIDE_VALID_RANGE", ["Amount"], id="number-too-large"),
        pytest.param(_create({**VALID, "StageName": "Dreaming"}), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["StageName"], id="restricted-picklist"),
        pytest.param(_create({**VALID, "Payout_Status__c": "paid"}), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Payout_Status__c"], id="picklist-case"),
        pytest.param(_create({**VALID, "CurrencyIsoCode": "XBT"}), "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["CurrencyIsoCode"], id="currency"),
        pytest.param(_create({**VALID, "AccountId": "not-an-id"}), "MALFORMED_ID", ["AccountId"], id="malformed-reference"),
        pytest.param(_create({**VALID, "AccountId": "006000000000000"}), "FIELD_INTEGRITY_EXCEPTION", ["AccountId"], id="reference-to-wrong-object"),
        pytest.param(_create({**VALID, "AccountId": "001000000000000"}), "INVALID_CROSS_REFERENCE_KEY", ["AccountId"], id="reference-to-nothing"),
        pytest.param(_create({**VALID, "Registered_Partner__c": "x" * 65}), "STRING_TOO_LONG", ["Registered_Partner__c"], id="too-long"),
        pytest.param(_update({"StageName": None}), "REQUIRED_FIELD_MISSING", ["StageName"], id="update-blanks-required"),
        pytest.param(_update({"IsClosed": True}), "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsClosed"], id="update-derived"),
        pytest.param(_update({"CreatedDate": "2026-01-01T00:00:00Z"}), "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"], id="update-system"),
        pytest.param(_update({"Bogus": 1}), "INVALID_FIELD", ["Bogus"], id="update-unknown-field"),
    ],
)  # fmt: skip
def test_rejected_writes(
    org: SalesforceOrg, sf: Salesforce, call: Any, code: str, fields: list[str]
) -> None:
    """Each invalid write is a 400 with Salesforce's error code and fields, and writes nothing."""
    ids = seed(org, 1)
    before = org.get("Opportunity", ids[0])
    with pytest.raises(SalesforceMalformedRequest) as info:
        call(sf, ids)
    assert code_of(info.value) == code
    assert info.value.content[0]["fields"] == fields
    assert org.count() == 1
    assert org.get("Opportunity", ids[0]) == before


def test_values_are_normalised_like_salesforce(sf: Salesforce) -> None:
    """Currency rounds half up to 2 places; datetimes come back in UTC with milliseconds."""
    record_id = sf.Opportunity.create({**VALID, "Amount": 10.005, "Cost__c": 3})["id"]
    row = sf.Opportunity.get(record_id)
    assert (row["Amount"], row["Cost__c"], row["CurrencyIsoCode"]) == (10.01, 3.0, "USD")
    assert row["Probability"] == 10.0
    assert row["OwnerId"].startswith("005")


@pytest.mark.parametrize(
    ("write", "code", "exception"),
    [
        pytest.param(lambda sf, i: sf.Opportunity.create(VALID), "UNABLE_TO_LOCK_ROW", SalesforceMalformedRequest, id="create"),
        pytest.param(lambda sf, i: sf.Opportunity.update(i, {"Amount": 1}), "UNABLE_TO_LOCK_ROW", SalesforceMalformedRequest, id="update"),
        pytest.param(lambda sf, i: sf.Opportunity.delete(i), "UNABLE_TO_LOCK_ROW", SalesforceMalformedRequest, id="delete"),
        pytest.param(lambda sf, i: sf.Opportunity.upsert("External_Id__c/k", VALID), "UNABLE_TO_LOCK_ROW", SalesforceMalformedRequest, id="upsert"),
    ],
)  # fmt: skip
def test_lock_fault_fails_single_writes(
    org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce, write: Any, code: str, exception: type
) -> None:
    """With lock:1 every single-record write is a 400 UNABLE_TO_LOCK_ROW and changes nothing."""
    (record_id,) = seed(org, 1)
    before = org.get("Opportunity", record_id)
    sandbox.reconfigure(faults=parse_faults("lock:1"))
    with pytest.raises(exception) as info:
        write(sf, record_id)
    assert code_of(info.value) == code
    assert "unable to obtain exclusive access to this record" in info.value.content[0]["message"]
    assert org.count(include_deleted=True) == 1
    assert org.get("Opportunity", record_id) == before


def test_deleted_records_refuse_writes(org: SalesforceOrg, sf: Salesforce) -> None:
    """Updating or deleting a record in the recycle bin is 404 ENTITY_IS_DELETED."""
    (record_id,) = seed(org, 1)
    org.delete("Opportunity", record_id)
    for call in (lambda: sf.Opportunity.update(record_id, {"Name": "x"}),
                 lambda: sf.Opportunity.delete(record_id)):  # fmt: skip
        with pytest.raises(SalesforceResourceNotFound) as info:
            call()
        assert code_of(info.value) == "ENTITY_IS_DELETED"


def test_upsert_by_external_id(org: SalesforceOrg, sf: Salesforce) -> None:
    """Upsert creates (201, created true), then updates (200, created false); reads by key."""
    created = sf.Opportunity.upsert("External_Id__c/hs-1", VALID, raw_response=True)
    assert created.status_code == 201
    assert created.json()["created"] is True
    updated = sf.Opportunity.upsert("External_Id__c/hs-1", {"Name": "Renamed"}, raw_response=True)
    assert (updated.status_code, updated.json()["created"]) == (200, False)
    assert updated.json()["id"] == created.json()["id"]
    row = sf.Opportunity.get_by_custom_id("External_Id__c", "HS-1")  # keys are case-insensitive
    assert (row["Name"], row["External_Id__c"]) == ("Renamed", "hs-1")
    assert row["attributes"]["type"] == "Opportunity"
    assert org.count() == 1


def test_upsert_before_v46_answers_204(sandbox_server: SandboxServer) -> None:
    """Before API 46.0 an upsert that updates answers 204 without a body."""
    session, url = session_for(sandbox_server.url)
    old = Salesforce(instance_url=url, session_id="sandbox", version="45.0", session=session)
    assert old.Opportunity.upsert("External_Id__c/k", VALID) == 201
    assert old.Opportunity.upsert("External_Id__c/k", {"Name": "again"}) == 204


def test_upsert_errors(org: SalesforceOrg, sf: Salesforce) -> None:
    """Two records holding a key is 300 with their URLs; a non-key field is 404."""
    ids = seed(org, 2, External_Id__c="dup")  # the Python API can create what the API refuses
    with pytest.raises(SalesforceMoreThanOneRecord) as info:
        sf.Opportunity.upsert("External_Id__c/dup", {"Name": "?"})
    assert sorted(info.value.content) == sorted(
        f"/services/data/v59.0/sobjects/Opportunity/{i}" for i in ids
    )
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Opportunity.get_by_custom_id("External_Id__c", "dup")
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Opportunity.upsert("Name/whatever", VALID)
    assert "Provided external ID field does not exist" in missing.value.content[0]["message"]


def test_unique_external_id_refuses_duplicates(sf: Salesforce) -> None:
    """Creating a second record with a unique key's value is DUPLICATE_VALUE."""
    first = sf.Opportunity.create({**VALID, "External_Id__c": "k1"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.create({**VALID, "External_Id__c": "K1"})
    assert code_of(info.value) == "DUPLICATE_VALUE"
    assert first in info.value.content[0]["message"]


def test_delete_by_external_id(org: SalesforceOrg, sf: Salesforce) -> None:
    """DELETE on sobjects/{Obj}/{ExtField}/{value} soft-deletes the matching record."""
    seed(org, 1, External_Id__c="bye")
    sf.restful("sobjects/Opportunity/External_Id__c/bye", method="DELETE")
    assert (org.count(), org.count(include_deleted=True)) == (0, 1)


def _write_then_modstamp(kind: str, sf: Salesforce, record_id: str) -> None:
    calls: dict[str, Callable[[], Any]] = {
        "update": lambda: sf.Opportunity.update(record_id, {"Amount": 9}),
        "upsert": lambda: sf.Opportunity.upsert("External_Id__c/seed-0", {"Amount": 9}),
        "delete": lambda: sf.Opportunity.delete(record_id),
        "collection-update": lambda: collection(sf, "PATCH", [{"id": record_id, "Amount": 9}]),
    }
    calls[kind]()


@pytest.mark.parametrize("kind", ["update", "upsert", "delete", "collection-update"])
def test_every_write_bumps_systemmodstamp(
    org: SalesforceOrg, sf: Salesforce, clock: Clock, kind: str
) -> None:
    """Every API write moves SystemModstamp and LastModifiedDate to now (milliseconds, UTC)."""
    (record_id,) = seed(org, 1, External_Id__c="seed-0")
    clock.tick(seconds=90, microseconds=1_999)
    _write_then_modstamp(kind, sf, record_id)
    row = org.get("Opportunity", record_id)
    assert row is not None
    expected = T0 + timedelta(seconds=90, microseconds=1_000)
    assert row["SystemModstamp"] == row["LastModifiedDate"] == expected
    assert row["CreatedDate"] == T0


def test_describe_is_truthful(sf: Salesforce) -> None:
    """describe lists every field with type, flags, lengths, picklist values and references."""
    described = sf.Opportunity.describe()
    assert (described["name"], described["keyPrefix"], described["label"]) == (
        "Opportunity", "006", "Opportunity")  # fmt: skip
    assert described["urls"]["describe"] == "/services/data/v59.0/sobjects/Opportunity/describe"
    fields = {f["name"]: f for f in described["fields"]}
    expected_types = {
        "Id": "id", "Name": "string", "AccountId": "reference", "Amount": "currency",
        "CurrencyIsoCode": "picklist", "StageName": "picklist", "CloseDate": "date",
        "Probability": "percent", "IsClosed": "boolean", "IsWon": "boolean", "Type": "picklist",
        "LeadSource": "picklist", "Description": "textarea", "OwnerId": "reference",
        "CreatedDate": "datetime", "LastModifiedDate": "datetime", "SystemModstamp": "datetime",
        "IsDeleted": "boolean", "Partner_Account__c": "reference", "Practice__c": "picklist",
        "Co_Sell_Direction__c": "picklist", "Paid_Amount__c": "currency",
        "Paid_Date__c": "date", "Cost__c": "currency", "Registration_Status__c": "picklist",
        "Protected_Until__c": "date", "Registered_Partner__c": "string",
        "Commission_Accrued__c": "currency", "Payout_Status__c": "picklist",
        "Payout_Reference__c": "string", "Payout_Paid_Date__c": "date",
        "External_Id__c": "string",
    }  # fmt: skip
    assert {n: fields[n]["type"] for n in expected_types} == expected_types
    for name in (
        "IsClosed",
        "IsWon",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
    ):
        assert (fields[name]["updateable"], fields[name]["createable"]) == (False, False)
    assert fields["Name"]["nillable"] is False
    assert fields["Registered_Partner__c"]["length"] == 64
    assert fields["Payout_Reference__c"]["length"] == 80
    assert (fields["Amount"]["precision"], fields["Amount"]["scale"]) == (18, 2)
    assert [v["value"] for v in fields["Payout_Status__c"]["picklistValues"]] == [
        "Accrued", "Approved", "Scheduled", "Paid", "Reversed"]  # fmt: skip
    assert fields["Payout_Status__c"]["picklistValues"][0] == {
        "active": True, "defaultValue": False, "label": "Accrued", "validFor": None,
        "value": "Accrued"}  # fmt: skip
    assert [v["value"] for v in fields["StageName"]["picklistValues"]][-2:] == [
        "Closed Won", "Closed Lost"]  # fmt: skip
    assert fields["StageName"]["restrictedPicklist"] is True
    assert fields["LeadSource"]["restrictedPicklist"] is False
    assert (fields["AccountId"]["referenceTo"], fields["AccountId"]["relationshipName"]) == (
        ["Account"], "Account")  # fmt: skip
    assert fields["Partner_Account__c"]["relationshipName"] == "Partner_Account__r"
    assert (fields["External_Id__c"]["externalId"], fields["External_Id__c"]["unique"]) == (
        True, True)  # fmt: skip
    assert (fields["Practice__c"]["custom"], fields["Amount"]["custom"]) == (True, False)


def test_account_describe_and_children(sf: Salesforce) -> None:
    """Account describes its fields and the Opportunity relationships pointing at it."""
    described = sf.Account.describe()
    fields = {f["name"]: f for f in described["fields"]}
    assert [v["value"] for v in fields["Partner_Tier__c"]["picklistValues"]] == [
        "Registered", "Silver", "Gold"]  # fmt: skip
    assert fields["Website"]["type"] == "url"
    children = {c["field"]: c["childSObject"] for c in described["childRelationships"]}
    assert children == {"AccountId": "Opportunity", "Partner_Account__c": "Opportunity"}


def test_metadata_and_global_describe(org: SalesforceOrg, sf: Salesforce) -> None:
    """sobjects/{Obj}/ gives objectDescribe and recent items; sobjects/ lists every object."""
    ids = seed(org, 7)
    metadata = sf.Opportunity.metadata()
    assert metadata["objectDescribe"]["name"] == "Opportunity"
    assert [r["Id"] for r in metadata["recentItems"]] == ids[::-1][:5]
    described = sf.describe()
    assert described["maxBatchSize"] == 200
    assert {o["name"]: o["keyPrefix"] for o in described["sobjects"]} == {
        "Opportunity": "006", "Account": "001", "User": "005"}  # fmt: skip


def test_updated_and_deleted(org: SalesforceOrg, sf: Salesforce, clock: Clock) -> None:
    """updated/ and deleted/ list the ids changed or deleted in the window, with dates."""
    keep, gone, old = seed(org, 3)
    clock.tick(hours=1)
    org.update("Opportunity", keep, {"Name": "changed"})
    org.delete("Opportunity", gone)
    clock.tick(minutes=3, seconds=30)
    start, end = T0 + timedelta(minutes=30), clock.now
    updated = sf.Opportunity.updated(start, end)
    assert updated == {"ids": [keep], "latestDateCovered": "2026-03-01T13:03:00.000+0000"}
    deleted = sf.Opportunity.deleted(start, end)
    assert deleted["deletedRecords"] == [
        {"id": gone, "deletedDate": "2026-03-01T13:00:00.000+0000"}
    ]
    assert deleted["latestDateCovered"] == "2026-03-01T13:03:00.000+0000"
    assert "earliestDateAvailable" in deleted
    assert sf.Opportunity.updated(T0 - timedelta(days=1), end)["ids"] == [keep, old]


def test_updated_window_errors(sf: Salesforce, clock: Clock) -> None:
    """An end before the start is INVALID_REPLICATION_DATE; a missing bound MISSING_ARGUMENT."""
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.updated(clock.now, clock.now - timedelta(days=1))
    assert code_of(info.value) == "INVALID_REPLICATION_DATE"
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.restful("sobjects/Opportunity/updated/", params={"start": "2026-01-01T00:00:00Z"})
    assert code_of(missing.value) == "MISSING_ARGUMENT"


def test_get_with_unknown_field_is_invalid_field(org: SalesforceOrg, sf: Salesforce) -> None:
    """GET ?fields= naming an unknown field is 400 INVALID_FIELD."""
    (record_id,) = seed(org, 1)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.get(record_id, params={"fields": "Name,Nope"})
    assert code_of(info.value) == "INVALID_FIELD"


def test_create_account_and_link(sf: Salesforce) -> None:
    """An Account created over the API can be referenced by an Opportunity and queried through."""
    account = sf.Account.create({"Name": "Acme", "Type": "Partner", "Partner_Tier__c": "Gold"})[
        "id"
    ]
    sf.Opportunity.create(
        {**VALID, "Partner_Account__c": account, "CloseDate": str(date(2026, 1, 2))}
    )
    row = sf.query("SELECT Partner_Account__r.Name FROM Opportunity")["records"][0]
    assert row["Partner_Account__r"]["Name"] == "Acme"
