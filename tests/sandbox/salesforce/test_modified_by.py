"""LastModifiedById: described, queryable, the integration user after every API write, and
whoever the Python API names after a manual edit (a sales rep in the Salesforce UI)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.salesforce.ids import USER_ID, parse_id, user_id
from sandbox.salesforce.org import SalesforceOrg
from tests.sandbox.salesforce.helpers import (
    VALID,
    Clock,
    code_of,
    collection,
    opportunity,
    seed,
)

REP = user_id(42)

#: An API write of one Opportunity; returns the id of the record it wrote.
Write = Callable[[Salesforce, str], str]


def _modified_by(org: SalesforceOrg, record_id: str) -> Any:
    return (org.get("Opportunity", record_id) or {})["LastModifiedById"]


def test_user_ids_are_well_formed_and_distinct() -> None:
    """user_id(n) mints case-safe 18-character User ids, never the integration user's."""
    minted = [user_id(n) for n in (1, 2, 42, 61, 62, 62**9 - 1)]
    assert len(set(minted)) == len(minted)
    assert all(len(i) == 18 and i.startswith("005") and parse_id(i) == i for i in minted)
    assert all(parse_id(i[:15]) == i for i in minted)
    assert USER_ID not in minted
    for bad in (0, -1, 62**9):
        with pytest.raises(ValueError, match="out of range"):
            user_id(bad)


@pytest.mark.parametrize("sobject", ["Opportunity", "Account"])
def test_describe_shows_last_modified_by_id(sf: Salesforce, sobject: str) -> None:
    """Every object describes LastModifiedById as a read-only, filterable User reference."""
    fields = {f["name"]: f for f in getattr(sf, sobject).describe()["fields"]}
    spec = fields["LastModifiedById"]
    assert {k: spec[k] for k in (
        "type", "label", "length", "referenceTo", "relationshipName", "createable",
        "updateable", "nillable", "defaultedOnCreate", "filterable", "sortable", "custom",
        "soapType", "defaultValue",
    )} == {
        "type": "reference", "label": "Last Modified By ID", "length": 18,
        "referenceTo": ["User"], "relationshipName": "LastModifiedBy", "createable": False,
        "updateable": False, "nillable": False, "defaultedOnCreate": True, "filterable": True,
        "sortable": True, "custom": False, "soapType": "tns:ID", "defaultValue": None,
    }  # fmt: skip
    names = list(fields)
    assert names.index("LastModifiedDate") < names.index("LastModifiedById")
    assert names.index("LastModifiedById") < names.index("SystemModstamp")


def test_soql_selects_and_filters_it(org: SalesforceOrg, sf: Salesforce) -> None:
    """SOQL selects LastModifiedById and filters on it."""
    ids = seed(org, 3)
    org.update("Opportunity", ids[1], {"LastModifiedById": REP})
    rows = sf.query("SELECT Id, LastModifiedById FROM Opportunity ORDER BY Name")["records"]
    assert [(r["Id"], r["LastModifiedById"]) for r in rows] == [
        (ids[0], USER_ID),
        (ids[1], REP),
        (ids[2], USER_ID),
    ]
    edited = sf.query(f"SELECT Id FROM Opportunity WHERE LastModifiedById = '{REP}'")
    assert [r["Id"] for r in edited["records"]] == [ids[1]]
    ours = sf.query(f"SELECT COUNT() FROM Opportunity WHERE LastModifiedById != '{REP}'")
    assert ours["totalSize"] == 2
    got = sf.Opportunity.get(ids[1], params={"fields": "Id,LastModifiedById"})
    assert got["LastModifiedById"] == REP


def test_the_integration_user_is_the_logged_in_user(sf: Salesforce) -> None:
    """The user API writes are stamped with is the user the session belongs to."""
    identity = sf.restful("")["identity"]
    assert identity.endswith(f"/{USER_ID}")


def _create(sf: Salesforce, _: str) -> str:
    return str(sf.Opportunity.create(dict(VALID))["id"])


def _update(sf: Salesforce, record_id: str) -> str:
    sf.Opportunity.update(record_id, {"Amount": 7})
    return record_id


def _upsert_update(sf: Salesforce, record_id: str) -> str:
    sf.Opportunity.upsert("External_Id__c/ext-0", {"Amount": 7})
    return record_id


def _upsert_create(sf: Salesforce, _: str) -> str:
    sf.Opportunity.upsert("External_Id__c/ext-new", dict(VALID))
    return str(sf.Opportunity.get_by_custom_id("External_Id__c", "ext-new")["Id"])


def _delete(sf: Salesforce, record_id: str) -> str:
    sf.Opportunity.delete(record_id)
    return record_id


def _collection_create(sf: Salesforce, _: str) -> str:
    return str(collection(sf, "POST", [dict(VALID)])[0]["id"])


def _collection_update(sf: Salesforce, record_id: str) -> str:
    return str(collection(sf, "PATCH", [{"id": record_id, "Amount": 7}])[0]["id"])


def _collection_upsert(sf: Salesforce, record_id: str) -> str:
    path = "composite/sobjects/Opportunity/External_Id__c"
    collection(sf, "PATCH", [{"External_Id__c": "ext-0", "Amount": 7}], path=path)
    return record_id


def _collection_delete(sf: Salesforce, record_id: str) -> str:
    result = sf.restful("composite/sobjects", method="DELETE", params={"ids": record_id})
    assert result[0]["success"] is True
    return record_id


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(_create, id="create"),
        pytest.param(_update, id="update"),
        pytest.param(_upsert_update, id="upsert-update"),
        pytest.param(_upsert_create, id="upsert-create"),
        pytest.param(_delete, id="delete"),
        pytest.param(_collection_create, id="collection-create"),
        pytest.param(_collection_update, id="collection-update"),
        pytest.param(_collection_upsert, id="collection-upsert"),
        pytest.param(_collection_delete, id="collection-delete"),
    ],
)
def test_every_api_write_stamps_the_integration_user(
    org: SalesforceOrg, sf: Salesforce, clock: Clock, write: Write
) -> None:
    """Whoever edited the record last, an API write makes the integration user its modifier."""
    record_id = org.insert(
        "Opportunity", opportunity(0, External_Id__c="ext-0", LastModifiedById=REP)
    )
    assert _modified_by(org, record_id) == REP
    clock.tick(minutes=5)
    written = write(sf, record_id)
    row = org.get("Opportunity", written)
    assert row is not None
    assert row["LastModifiedById"] == USER_ID
    assert row["LastModifiedDate"] == clock.now


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"LastModifiedById": REP}, id="user-id"),
        pytest.param({"lastmodifiedbyid": REP}, id="any-case"),
        pytest.param({"LastModifiedById": None}, id="null"),
    ],
)
def test_the_api_cannot_write_it(org: SalesforceOrg, sf: Salesforce, body: dict[str, Any]) -> None:
    """Creates and updates naming LastModifiedById are refused like other system fields."""
    record_id = seed(org, 1)[0]
    before = org.get("Opportunity", record_id)
    for call in (
        lambda: sf.Opportunity.create({**VALID, **body}),
        lambda: sf.Opportunity.update(record_id, body),
    ):
        with pytest.raises(SalesforceMalformedRequest) as info:
            call()
        assert code_of(info.value) == "INVALID_FIELD_FOR_INSERT_UPDATE"
        assert info.value.content[0]["fields"] == ["LastModifiedById"]
    assert org.count() == 1
    assert org.get("Opportunity", record_id) == before
    results = collection(sf, "PATCH", [{"id": record_id, "Amount": 1, **body}])
    assert results[0]["errors"][0]["statusCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_python_api_defaults_to_the_integration_user(org: SalesforceOrg, clock: Clock) -> None:
    """insert / insert_many / update / delete without LastModifiedById stamp USER_ID."""
    first = org.insert("Opportunity", opportunity(0))
    many = seed(org, 3)
    assert {_modified_by(org, i) for i in (first, *many)} == {USER_ID}
    org.update("Opportunity", first, {"LastModifiedById": REP})
    clock.tick(seconds=1)
    org.update("Opportunity", first, {"Amount": 1})
    assert _modified_by(org, first) == USER_ID
    org.update("Opportunity", many[0], {"LastModifiedById": REP})
    org.delete("Opportunity", many[0])
    assert _modified_by(org, many[0]) == USER_ID


def test_python_api_keeps_a_given_user(org: SalesforceOrg, sf: Salesforce, clock: Clock) -> None:
    """A manual edit naming a rep keeps the rep (any case, 15 characters) until an API write."""
    record_id = org.insert("Opportunity", opportunity(0, LastModifiedById=REP.lower()))
    assert _modified_by(org, record_id) == REP  # the checksum restores the case
    org.update("Opportunity", record_id, {"LastModifiedById": USER_ID})
    clock.tick(minutes=1)
    org.update(
        "Opportunity",
        record_id,
        {"Registration_Status__c": "Rejected", "LastModifiedById": REP[:15]},
    )
    row = org.get("Opportunity", record_id)
    assert row is not None
    assert (row["Registration_Status__c"], row["LastModifiedById"]) == ("Rejected", REP)
    assert row["LastModifiedDate"] == clock.now
    record = sf.Opportunity.get(record_id)
    assert (record["LastModifiedById"], record["Registration_Status__c"]) == (REP, "Rejected")
    many = org.insert_many("Opportunity", [opportunity(1, LastModifiedById=REP), opportunity(2)])
    assert [_modified_by(org, i) for i in many] == [REP, USER_ID]


@pytest.mark.parametrize(
    ("value", "error"),
    [
        pytest.param("not-an-id", ValueError, id="malformed"),
        pytest.param("001000000000001AAA", ValueError, id="account-id"),
        pytest.param(42, TypeError, id="not-a-string"),
    ],
)
def test_python_api_refuses_what_is_not_a_user_id(
    org: SalesforceOrg, value: Any, error: type[Exception]
) -> None:
    """The Python API only takes well-formed User ids (005...) as LastModifiedById."""
    record_id = seed(org, 1)[0]
    with pytest.raises(error):
        org.update("Opportunity", record_id, {"LastModifiedById": value})
    with pytest.raises(error):
        org.insert("Opportunity", opportunity(1, LastModifiedById=value))
    assert _modified_by(org, record_id) == USER_ID
