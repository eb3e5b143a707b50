"""sObject Collections through sf.restful: 200 per call, input order, allOrNone both ways."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandbox.core import Sandbox
from sandbox.knobs import parse_faults
from sandbox.salesforce.org import SalesforceOrg
from tests.sandbox.salesforce.helpers import code_of, collection, seed

NEW = {"StageName": "Prospecting", "CloseDate": "2026-01-01"}
ROLLED_BACK = "ALL_OR_NONE_OPERATION_ROLLED_BACK"


def _codes(results: list[dict[str, Any]]) -> list[str | None]:
    return [r["errors"][0]["statusCode"] if r["errors"] else None for r in results]


def _amounts(org: SalesforceOrg, ids: list[str]) -> list[Any]:
    return [(org.get("Opportunity", i) or {}).get("Amount") for i in ids]


def test_update_partial_success_in_input_order(org: SalesforceOrg, sf: Salesforce) -> None:
    """allOrNone=false writes the good records and reports each bad one in its place."""
    ids = seed(org, 4, Amount=None)
    org.delete("Opportunity", ids[3])
    results = collection(sf, "PATCH", [
        {"id": ids[0], "Amount": 10},
        {"id": "001RM000003oLrB000", "Amount": 1},
        {"id": ids[1], "StageName": "Nope"},
        {"id": ids[2], "Nope__c": 1},
        {"id": ids[3], "Amount": 3},
        {"Amount": 4},
        {"id": ids[2][:15], "Amount": 5},
    ])  # fmt: skip
    assert [r["success"] for r in results] == [True, False, False, False, False, False, True]
    assert _codes(results) == [
        None,
        "MALFORMED_ID",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "INVALID_FIELD",
        "ENTITY_IS_DELETED",
        "MISSING_ARGUMENT",
        None,
    ]
    assert results[0] == {"id": ids[0], "success": True, "errors": []}
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "MALFORMED_ID",
                "message": "malformed id 001RM000003oLrB000",
                "fields": [],
            }
        ],
    }
    assert results[2]["id"] == ids[1]
    assert results[2]["errors"][0]["fields"] == ["StageName"]
    assert results[6]["id"] == ids[2]
    assert _amounts(org, ids[:3]) == [10.0, None, 5.0]


def test_all_or_none_writes_nothing_on_one_failure(org: SalesforceOrg, sf: Salesforce) -> None:
    """allOrNone=true: one bad record fails all; the others say ALL_OR_NONE_OPERATION_ROLLED_BACK."""
    ids = seed(org, 3, Amount=None)
    results = collection(
        sf, "PATCH",
        [{"id": ids[0], "Amount": 10}, {"id": ids[1], "Amount": "x"}, {"id": ids[2], "Amount": 30}],
        all_or_none=True,
    )  # fmt: skip
    assert _codes(results) == [ROLLED_BACK, "INVALID_TYPE_ON_FIELD_IN_RECORD", ROLLED_BACK]
    assert all(r["success"] is False for r in results)
    assert [r.get("id") for r in results] == ids
    assert "AllOrNone" in results[0]["errors"][0]["message"]
    assert _amounts(org, ids) == [None, None, None]


def test_all_or_none_true_all_good_writes_all(org: SalesforceOrg, sf: Salesforce) -> None:
    """allOrNone=true with only good records writes them all."""
    ids = seed(org, 3)
    results = collection(sf, "PATCH", [{"id": i, "Amount": 7} for i in ids], all_or_none=True)
    assert [r["success"] for r in results] == [True, True, True]
    assert _amounts(org, ids) == [7.0, 7.0, 7.0]


@pytest.mark.parametrize(
    ("all_or_none", "written", "codes"),
    [
        pytest.param(False, 2, [None, "REQUIRED_FIELD_MISSING", None, "INVALID_TYPE"], id="partial"),
        pytest.param(True, 0, [ROLLED_BACK, "REQUIRED_FIELD_MISSING", ROLLED_BACK, "INVALID_TYPE"], id="all-or-none"),
    ],
)  # fmt: skip
def test_create_mixed(
    org: SalesforceOrg, sf: Salesforce, all_or_none: bool, written: int, codes: list[str | None]
) -> None:
    """POST creates good records (ids in order) and refuses bad ones, per allOrNone."""
    body = {
        "allOrNone": all_or_none,
        "records": [
            {"attributes": {"type": "Opportunity"}, "Name": "A", **NEW},
            {"attributes": {"type": "Opportunity"}, "Name": "B"},
            {"attributes": {"type": "Account"}, "Name": "Acme"},
            {"attributes": {"type": "Widget__c"}, "Name": "?"},
        ],
    }
    results = sf.restful("composite/sobjects", method="POST", json=body)
    assert _codes(results) == codes
    assert org.count("Opportunity") + org.count("Account") == written
    if not all_or_none:
        assert results[0]["id"].startswith("006")
        assert results[2]["id"].startswith("001")
    assert "id" not in results[1]


def test_upsert_collection(org: SalesforceOrg, sf: Salesforce) -> None:
    """PATCH on an external id upserts: created flags, 200, keys matched case-insensitively."""
    seed(org, 1, External_Id__c="k0", Amount=None)
    path = "composite/sobjects/Opportunity/External_Id__c"
    results = collection(sf, "PATCH", [
        {"Name": "new", **NEW, "External_Id__c": "k1"},
        {"External_Id__c": "K0", "Amount": 5},
        {"Name": "dup", **NEW, "External_Id__c": "k1"},
        {"Name": "no key", **NEW},
    ], path=path)  # fmt: skip
    assert [r.get("created") for r in results] == [True, False, None, None]
    assert _codes(results) == [None, None, "DUPLICATE_EXTERNAL_ID", "MISSING_ARGUMENT"]
    assert org.count() == 2
    with pytest.raises(SalesforceMalformedRequest) as info:
        collection(sf, "PATCH", [{"Name": "x"}], path="composite/sobjects/Opportunity/Name")
    assert code_of(info.value) == "INVALID_FIELD"


def test_upsert_collection_ambiguous_key(org: SalesforceOrg, sf: Salesforce) -> None:
    """A key held by two records fails that record with DUPLICATE_EXTERNAL_ID."""
    seed(org, 2, External_Id__c="same")
    results = collection(
        sf, "PATCH", [{"External_Id__c": "same", "Amount": 1}],
        path="composite/sobjects/Opportunity/External_Id__c",
    )  # fmt: skip
    assert _codes(results) == ["DUPLICATE_EXTERNAL_ID"]


def test_delete_and_retrieve(org: SalesforceOrg, sf: Salesforce) -> None:
    """DELETE ?ids= soft-deletes per id; POST composite/sobjects/{Obj} retrieves (null if gone)."""
    ids = seed(org, 3)
    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{ids[0]},{ids[0][:15]},junk,006000000000000", "allOrNone": "false"},
    )
    assert _codes(deleted) == [None, None, "MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"]
    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": ids[0]})
    assert _codes(again) == ["ENTITY_IS_DELETED"]
    got = sf.restful(
        "composite/sobjects/Opportunity",
        method="POST",
        json={"ids": [ids[1], ids[0], "junk", ids[2][:15]], "fields": ["Name", "SystemModstamp"]},
    )
    assert got[0]["Name"] == "Deal 00001"
    assert set(got[0]) == {"attributes", "Name", "SystemModstamp"}
    assert (got[1], got[2]) == (None, None)
    assert got[3]["attributes"]["url"].endswith(ids[2])
    by_get = sf.restful("composite/sobjects/Opportunity", params={"ids": ids[1], "fields": "Name"})
    assert [r["Name"] for r in by_get] == ["Deal 00001"]


def test_delete_all_or_none(org: SalesforceOrg, sf: Salesforce) -> None:
    """DELETE with allOrNone=true and one bad id deletes nothing."""
    ids = seed(org, 2)
    results = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{ids[0]},junk", "allOrNone": "true"}
    )
    assert _codes(results) == [ROLLED_BACK, "MALFORMED_ID"]
    assert org.count() == 2


@pytest.mark.parametrize(
    ("call", "code"),
    [
        pytest.param(lambda sf, ids: collection(sf, "PATCH", [{"id": i, "Amount": 1} for i in ids]), "EXCEEDED_ID_LIMIT", id="update-201"),
        pytest.param(lambda sf, ids: collection(sf, "POST", [{"Name": "x"}] * 201), "EXCEEDED_ID_LIMIT", id="create-201"),
        pytest.param(lambda sf, ids: sf.restful("composite/sobjects", method="DELETE", params={"ids": ",".join(ids)}), "EXCEEDED_ID_LIMIT", id="delete-201"),
        pytest.param(lambda sf, ids: sf.restful("composite/sobjects", method="PATCH", json={"records": "no"}), "JSON_PARSER_ERROR", id="not-a-list"),
        pytest.param(lambda sf, ids: sf.restful("composite/sobjects", method="PATCH", data="{"), "JSON_PARSER_ERROR", id="bad-json"),
        pytest.param(lambda sf, ids: sf.restful("composite/sobjects/Opportunity", method="POST", json={"ids": ids[:1], "fields": ["Nope"]}), "INVALID_FIELD", id="retrieve-unknown-field"),
    ],
)  # fmt: skip
def test_whole_call_errors(org: SalesforceOrg, sf: Salesforce, call: Any, code: str) -> None:
    """Over 200 records, or a body that is not a collection, fails the whole call with 400."""
    ids = seed(org, 201)
    with pytest.raises(SalesforceMalformedRequest) as info:
        call(sf, ids)
    assert code_of(info.value) == code
    if code == "EXCEEDED_ID_LIMIT":
        assert "200" in info.value.content[0]["message"]
    assert all(r["success"] for r in collection(sf, "PATCH", [{"id": i} for i in ids[:200]]))


def test_lock_faults_are_per_record(org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce) -> None:
    """A lock fault fails single records with UNABLE_TO_LOCK_ROW; the others are written."""
    ids = seed(org, 200, Amount=None)
    sandbox.reconfigure(faults=parse_faults("lock:0.2,seed:9"))
    results = collection(sf, "PATCH", [{"id": i, "Amount": 7} for i in ids])
    failed = [r for r in results if not r["success"]]
    assert 10 < len(failed) < 80
    assert set(_codes(failed)) == {"UNABLE_TO_LOCK_ROW"}
    assert all(r["id"] in r["errors"][0]["message"] for r in failed)
    written = [i for i, amount in zip(ids, _amounts(org, ids), strict=True) if amount == 7.0]
    assert written == [r["id"] for r in results if r["success"]]


def test_lock_fault_with_all_or_none_writes_nothing(
    org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce
) -> None:
    """With allOrNone, one locked row rolls every record back."""
    ids = seed(org, 50, Amount=None)
    sandbox.reconfigure(faults=parse_faults("lock:0.1,seed:3"))
    results = collection(sf, "PATCH", [{"id": i, "Amount": 7} for i in ids], all_or_none=True)
    assert "UNABLE_TO_LOCK_ROW" in _codes(results)
    assert set(_codes(results)) == {"UNABLE_TO_LOCK_ROW", ROLLED_BACK}
    assert set(_amounts(org, ids)) == {None}


def test_unique_values_within_one_call(sf: Salesforce) -> None:
    """Two new records with the same unique key in one call: the second is DUPLICATE_VALUE."""
    results = collection(sf, "POST", [
        {"Name": "a", **NEW, "External_Id__c": "same"},
        {"Name": "b", **NEW, "External_Id__c": "same"},
    ])  # fmt: skip
    assert _codes(results) == [None, "DUPLICATE_VALUE"]


def test_concurrent_writers_lose_nothing(
    org: SalesforceOrg, sandbox_server: Any, sf_factory: Any
) -> None:
    """API clients in threads and the Python API writing at once: every record is stored."""
    clients = [sf_factory() for _ in range(4)]

    def write(sf: Salesforce) -> None:
        for n in range(5):
            collection(sf, "POST", [{"Name": f"c{n}-{i}", **NEW} for i in range(20)])

    with ThreadPoolExecutor(max_workers=5) as pool:
        futures = [pool.submit(write, sf) for sf in clients]
        futures.append(pool.submit(seed, org, 2_000))
        for future in futures:
            future.result()
    assert org.count() == 4 * 5 * 20 + 2_000
    assert len({r["Id"] for r in org.records("Opportunity")}) == org.count()
