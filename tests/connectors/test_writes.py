"""Batched writes through our connectors and the real clients, against the sandbox.

One result per record in input order; a partial failure (Collections ``success: false``,
HubSpot 207) is that record's result, never the batch's.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal

import pytest

from connectors.base import RecordCreate, RecordUpdate, RecordUpsert, WriteOutcome
from connectors.errors import Transient
from connectors.retry import RetryPolicy
from sandbox import Sandbox, SandboxServer, parse_faults, seed_hubspot, seed_salesforce
from tests.sync.links import hubspot, salesforce


def _opportunity_ids(sandbox: Sandbox) -> list[str]:
    return sorted(r["Id"] for r in sandbox.salesforce.records("Opportunity"))


def _deal_ids(sandbox: Sandbox) -> list[str]:
    return sorted(str(i) for i in sandbox.hubspot.table("deals")._by_id)


def test_salesforce_updates_in_collections_of_200_with_per_record_results(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    seed_salesforce(sandbox, 450)
    ids = _opportunity_ids(sandbox)
    sandbox.salesforce.delete("Opportunity", ids[3])
    updates = [
        RecordUpdate(i, {"Payout_Reference__c": f"R{n}", "Commission_Accrued__c": Decimal("1.10")})
        for n, i in enumerate(ids)
    ]
    updates[7] = RecordUpdate(ids[7], {"Registration_Status__c": "Nope"})
    connector = salesforce(sandbox_server)
    results = connector.update(updates)
    assert connector.calls == math.ceil(450 / 200)
    assert [r.id for r in results] == ids
    assert (results[3].outcome, results[3].code) == (WriteOutcome.REJECTED, "ENTITY_IS_DELETED")
    assert (results[7].outcome, results[7].code, results[7].fields) == (
        WriteOutcome.REJECTED, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ("Registration_Status__c",),
    )  # fmt: skip
    assert sum(r.ok for r in results) == 448
    record = sandbox.salesforce.get("Opportunity", ids[10])
    assert record is not None
    assert record["Payout_Reference__c"] == "R10"
    assert Decimal(str(record["Commission_Accrued__c"])) == Decimal("1.10")


def test_salesforce_record_locks_are_retry_results(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    seed_salesforce(sandbox, 5)
    sandbox.reconfigure(faults=parse_faults("lock:1"))
    results = salesforce(sandbox_server).update(
        [RecordUpdate(i, {"Payout_Reference__c": "X"}) for i in _opportunity_ids(sandbox)]
    )
    assert {(r.outcome, r.code) for r in results} == {(WriteOutcome.RETRY, "UNABLE_TO_LOCK_ROW")}


def test_hubspot_updates_in_batches_of_100_with_207_results(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    seed_hubspot(sandbox, 250)
    ids = _deal_ids(sandbox)
    sandbox.hubspot.archive("deals", ids[4])
    updates = [
        RecordUpdate(i, {"payout_reference": f"R{n}", "protected_until": date(2027, 5, 1)})
        for n, i in enumerate(ids)
    ]
    updates[9] = RecordUpdate(ids[9], {"registration_status": "nope"})
    connector = hubspot(sandbox_server)
    results = connector.update(updates)
    assert connector.calls == math.ceil(250 / 100)
    assert [r.id for r in results] == ids
    assert (results[4].outcome, results[4].code) == (WriteOutcome.REJECTED, "OBJECT_NOT_FOUND")
    assert (results[9].outcome, results[9].code) == (WriteOutcome.REJECTED, "VALIDATION_ERROR")
    assert "nope" in (results[9].message or "")
    assert sum(r.ok for r in results) == 248
    deal = sandbox.hubspot.get("deals", ids[11])
    assert deal is not None
    assert deal["properties"]["payout_reference"] == "R11"


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_creates_return_new_ids_in_input_order(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    if crm == "salesforce":
        seed_salesforce(sandbox, 1)
        account = sandbox.salesforce.records("Account")[0]["Id"]
        good = {"StageName": "Prospecting", "CloseDate": date(2027, 1, 1), "AccountId": account}
        records = [RecordCreate({"Name": f"New {n}", **good}) for n in range(250)]
        records[5] = RecordCreate({"Name": "No stage"})
        connector = salesforce(sandbox_server)
        refused = "REQUIRED_FIELD_MISSING"
    else:
        records = [
            RecordCreate({"dealname": f"New {n}", "amount": Decimal("5")}) for n in range(250)
        ]
        records[5] = RecordCreate({"dealname": "Bad", "registration_status": "nope"})
        connector = hubspot(sandbox_server)
        refused = "VALIDATION_ERROR"
    results = connector.create(records)
    assert connector.calls == math.ceil(250 / connector.write_batch_size)
    assert (results[5].outcome, results[5].code, results[5].id) == (
        WriteOutcome.REJECTED, refused, "")  # fmt: skip
    made = [r.id for n, r in enumerate(results) if n != 5]
    assert all(r.ok for n, r in enumerate(results) if n != 5)
    assert len(set(made)) == 249
    for n in (0, 6, 249):  # each id is the record made from that input
        if crm == "salesforce":
            stored = sandbox.salesforce.get("Opportunity", results[n].id)
            assert stored is not None
            assert stored["Name"] == f"New {n}"
        else:
            deal = sandbox.hubspot.get("deals", results[n].id)
            assert deal is not None
            assert deal["properties"]["dealname"] == f"New {n}"


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_upserts_create_once_per_key_and_find_the_record_when_sent_again(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """The same upserts sent twice (a retry after a crash) leave one record per key: the
    second answer names the same records, ``created`` False; a refused input is its own."""
    if crm == "salesforce":
        seed_salesforce(sandbox, 1)
        key_field = "Partnersync_Key__c"
        good = {"StageName": "Prospecting", "CloseDate": date(2027, 1, 1)}
        records = [RecordUpsert(f"k-{n}", {"Name": f"New {n}", **good}) for n in range(230)]
        records[3] = RecordUpsert("k-3", {"Name": "No stage"})
        connector = salesforce(sandbox_server)
        refused = "REQUIRED_FIELD_MISSING"
    else:
        key_field = "partnersync_key"
        records = [RecordUpsert(f"k-{n}", {"dealname": f"New {n}"}) for n in range(230)]
        records[3] = RecordUpsert("k-3", {"dealname": "Bad", "registration_status": "nope"})
        connector = hubspot(sandbox_server)
        refused = "VALIDATION_ERROR"
    first = connector.upsert(records, key_field)
    again = connector.upsert(records, key_field)
    assert connector.calls == 2 * math.ceil(230 / connector.write_batch_size)
    for results in (first, again):
        assert (results[3].outcome, results[3].code) == (WriteOutcome.REJECTED, refused)
        assert all(r.ok for n, r in enumerate(results) if n != 3)
    assert [r.created for n, r in enumerate(first) if n != 3] == [True] * 229
    assert not any(r.created for r in again)
    assert [r.id for r in again] == [r.id for r in first]
    if crm == "salesforce":
        stored = [r for r in sandbox.salesforce.records("Opportunity") if r.get(key_field)]
        by_key = {r[key_field]: r for r in stored}
        assert by_key["k-7"]["Id"] == first[7].id
        assert by_key["k-7"]["Name"] == "New 7"
    else:
        stored = [
            i for i in _deal_ids(sandbox)
            if ((sandbox.hubspot.get("deals", i) or {})["properties"]).get(key_field)
        ]  # fmt: skip
        deal = sandbox.hubspot.get("deals", first[7].id)
        assert deal is not None
        assert deal["properties"]["dealname"] == "New 7"
    assert len(stored) == 229


def test_a_batch_that_never_gets_through_raises_transient(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    seed_hubspot(sandbox, 3)
    sandbox.reconfigure(faults=parse_faults("503:1"))
    connector = hubspot(sandbox_server, retry=RetryPolicy(attempts=3, sleep=lambda _: None))
    with pytest.raises(Transient):
        connector.update([RecordUpdate(i, {"payout_reference": "X"}) for i in _deal_ids(sandbox)])
    assert connector.calls == 3
