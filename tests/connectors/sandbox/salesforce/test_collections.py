"""sObject Collections through sf.restful: 200 a call, allOrNone both ways, input order."""

from __future__ import annotations

from datetime import date

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.sandbox.core import Sandbox
from connectors.sandbox.knobs import parse_faults


def seed(sandbox: Sandbox, n: int) -> list[str]:
    return sandbox.salesforce.insert_many("Opportunity", (
        {"Name": f"D{i}", "StageName": "Prospecting", "CloseDate": date(2026, 1, 1)} for i in range(n)))  # fmt: skip


def patch(
    sf: Salesforce, records: list[dict[str, object]], all_or_none: bool = False
) -> list[dict[str, object]]:
    body = {"allOrNone": all_or_none,
            "records": [{"attributes": {"type": "Opportunity"}, **r} for r in records]}  # fmt: skip
    return sf.restful("composite/sobjects", method="PATCH", json=body)  # type: ignore[no-any-return]


def test_partial_success_in_input_order(sandbox: Sandbox, sf: Salesforce) -> None:
    """allOrNone=false writes the good records and reports each bad one in place."""
    ids = seed(sandbox, 3)
    sandbox.salesforce.delete("Opportunity", ids[2])
    results = patch(sf, [
        {"id": ids[0], "Amount": 10}, {"id": "garbage", "Amount": 1},
        {"id": ids[1], "StageName": "Nope"}, {"id": ids[2], "Amount": 3}])  # fmt: skip
    assert [r["success"] for r in results] == [True, False, False, False]
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]  # type: ignore[index]
    assert codes == ["MALFORMED_ID", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "ENTITY_IS_DELETED"]
    assert sandbox.salesforce.get("Opportunity", ids[0])["Amount"] == 10.0  # type: ignore[index]


def test_all_or_none_writes_nothing_on_one_failure(sandbox: Sandbox, sf: Salesforce) -> None:
    """allOrNone=true: one bad record fails all; the others say ALL_OR_NONE_OPERATION_ROLLED_BACK."""
    ids = seed(sandbox, 2)
    results = patch(
        sf, [{"id": ids[0], "Amount": 10}, {"id": ids[1], "Nope__c": 1}], all_or_none=True
    )
    assert [r["errors"][0]["statusCode"] for r in results] == [  # type: ignore[index]
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_FIELD",
    ]
    assert sandbox.salesforce.get("Opportunity", ids[0])["Amount"] is None  # type: ignore[index]


def test_at_most_200_records(sandbox: Sandbox, sf: Salesforce) -> None:
    """201 records in one call is refused whole."""
    ids = seed(sandbox, 201)
    with pytest.raises(SalesforceMalformedRequest) as info:
        patch(sf, [{"id": i, "Amount": 1} for i in ids])
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert all(r["success"] for r in patch(sf, [{"id": i, "Amount": 1} for i in ids[:200]]))


def test_create_upsert_retrieve_delete(sandbox: Sandbox, sf: Salesforce) -> None:
    """POST creates, PATCH on an external id upserts (created flags), POST retrieves, DELETE deletes."""
    base = {
        "attributes": {"type": "Opportunity"},
        "StageName": "Prospecting",
        "CloseDate": "2026-01-01",
    }
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"allOrNone": False, "records": [{**base, "Name": "A"}, {**base, "Name": "B"}]},
    )
    ids = [r["id"] for r in created]
    upserted = sf.restful(
        "composite/sobjects/Opportunity/External_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": [{**base, "Name": "C", "External_Id__c": "k1"}]},
    )
    again = sf.restful(
        "composite/sobjects/Opportunity/External_Id__c",
        method="PATCH",
        json={"allOrNone": False, "records": [{**base, "Name": "C2", "External_Id__c": "k1"}]},
    )
    assert (upserted[0]["created"], again[0]["created"]) == (True, False)
    got = sf.restful(
        "composite/sobjects/Opportunity", method="POST", json={"ids": ids, "fields": ["Name"]}
    )
    assert [g["Name"] for g in got] == ["A", "B"]
    deleted = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": ",".join(ids), "allOrNone": "false"}
    )
    assert all(d["success"] for d in deleted)
    assert sandbox.salesforce.count() == 1


def test_lock_faults_are_per_record(sandbox: Sandbox, sf: Salesforce) -> None:
    """A lock fault fails single records with UNABLE_TO_LOCK_ROW; the others are written."""
    ids = seed(sandbox, 200)
    sandbox.reconfigure(faults=parse_faults("lock:0.2,seed:9"))
    results = patch(sf, [{"id": i, "Amount": 7} for i in ids])
    failed = [r for r in results if not r["success"]]
    assert 10 < len(failed) < 80
    assert {r["errors"][0]["statusCode"] for r in failed} == {"UNABLE_TO_LOCK_ROW"}  # type: ignore[index]
    written = sum(1 for i in ids if sandbox.salesforce.get("Opportunity", i)["Amount"] == 7.0)  # type: ignore[index]
    assert written == 200 - len(failed)
