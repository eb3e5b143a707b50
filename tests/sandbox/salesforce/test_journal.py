"""The write journal, Salesforce side: one event per record the REST API wrote, none for
refused records, rolled-back collections or the Python API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from sandbox.core import Sandbox, WriteEvent
from sandbox.knobs import parse_faults
from sandbox.salesforce.ids import user_id
from sandbox.salesforce.org import SalesforceOrg
from tests.sandbox.salesforce.helpers import (
    T0,
    VALID,
    Clock,
    collection,
    opportunity,
    seed,
)

UPSERT = "composite/sobjects/Opportunity/External_Id__c"


def _events(sandbox: Sandbox) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(action, object, record id, values) of every Salesforce event, oldest first."""
    return [
        (e.action, e.object, e.record_id, e.values)
        for e in sandbox.journal_events(api="salesforce")
    ]


def test_sobject_writes_are_journaled(sandbox: Sandbox, sf: Salesforce, clock: Clock) -> None:
    """create, update, upsert (both ways) and delete: one event each, values as sent."""
    created = sf.Opportunity.create({**VALID, "Amount": 10})["id"]
    clock.tick(seconds=1)
    sf.Opportunity.update(created, {"Amount": 11, "Payout_Reference__c": None})
    sf.Opportunity.upsert("External_Id__c/ext-1", {**VALID, "Name": "Upserted"})
    upserted = sf.Opportunity.get_by_custom_id("External_Id__c", "ext-1")["Id"]
    sf.Opportunity.upsert("External_Id__c/ext-1", {"Amount": 5})
    sf.Opportunity.delete(created)
    account = sf.Account.create({"Name": "Acme"})["id"]
    assert _events(sandbox) == [
        ("create", "Opportunity", created, {**VALID, "Amount": 10}),
        ("update", "Opportunity", created, {"Amount": 11, "Payout_Reference__c": None}),
        ("create", "Opportunity", upserted, {**VALID, "Name": "Upserted"}),
        ("update", "Opportunity", upserted, {"Amount": 5}),
        ("delete", "Opportunity", created, {}),
        ("create", "Account", account, {"Name": "Acme"}),
    ]
    events = sandbox.journal_events()
    assert all(isinstance(e, WriteEvent) and e.api == "salesforce" for e in events)
    assert (events[0].at, events[1].at) == (T0, T0 + timedelta(seconds=1))


def test_refused_writes_are_not_journaled(
    org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce
) -> None:
    """A 400 / 404 answer, or an injected lock, writes nothing and journals nothing."""
    record_id = seed(org, 1)[0]
    with pytest.raises(SalesforceMalformedRequest):
        sf.Opportunity.update(record_id, {"StageName": "Dreaming"})
    with pytest.raises(SalesforceMalformedRequest):
        sf.Opportunity.create({"Name": "No stage"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.update("006000000000000AAA", {"Amount": 1})
    sandbox.reconfigure(faults=parse_faults("lock:1.0"))
    with pytest.raises(SalesforceMalformedRequest):
        sf.Opportunity.update(record_id, {"Amount": 1})
    assert sandbox.journal_events() == []


def test_collection_partial_success_journals_only_the_successes(
    org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce
) -> None:
    """allOrNone=false: each record that succeeded has its event, in input order."""
    ids = seed(org, 3)
    results = collection(sf, "PATCH", [
        {"id": ids[0], "Amount": 1},
        {"id": ids[1], "StageName": "Dreaming"},
        {"id": "006000000000000AAA", "Amount": 2},
        {"id": ids[2], "Amount": 3, "Practice__c": "Data"},
    ])  # fmt: skip
    assert [r["success"] for r in results] == [True, False, False, True]
    assert _events(sandbox) == [
        ("update", "Opportunity", ids[0], {"Amount": 1}),
        ("update", "Opportunity", ids[2], {"Amount": 3, "Practice__c": "Data"}),
    ]


def test_collection_all_or_none_failure_journals_nothing(
    org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce
) -> None:
    """allOrNone=true with one bad record rolls every record back: no event."""
    ids = seed(org, 2)
    results = collection(
        sf, "PATCH", [{"id": ids[0], "Amount": 1}, {"id": ids[1], "Amount": "x"}], all_or_none=True
    )
    assert not any(r["success"] for r in results)
    assert sandbox.journal_events() == []
    collection(sf, "PATCH", [{"id": i, "Amount": 9} for i in ids], all_or_none=True)
    assert [e.record_id for e in sandbox.journal_events()] == ids


def test_collection_create_upsert_delete(
    org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce
) -> None:
    """Collections create, upsert (key aside) and delete journal each record's action."""
    existing = org.insert("Opportunity", opportunity(0, External_Id__c="ext-0"))
    created = collection(sf, "POST", [{**VALID, "Name": "C1"}, {"Name": "missing stage"}])
    upserted = collection(
        sf,
        "PATCH",
        [{"External_Id__c": "ext-0", "Amount": 4}, {**VALID, "External_Id__c": "ext-9"}],
        path=UPSERT,
    )
    deleted = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{existing},006000000000000AAA"}
    )
    assert [r["success"] for r in created] == [True, False]
    assert [r["success"] for r in upserted] == [True, True]
    assert [r["success"] for r in deleted] == [True, False]
    assert _events(sandbox) == [
        ("create", "Opportunity", created[0]["id"], {**VALID, "Name": "C1"}),
        ("update", "Opportunity", existing, {"Amount": 4}),
        ("create", "Opportunity", upserted[1]["id"], VALID),
        ("delete", "Opportunity", existing, {}),
    ]


def test_python_api_writes_are_not_journaled(org: SalesforceOrg, sandbox: Sandbox) -> None:
    """Seeding and a test's manual edits (insert, insert_many, update, delete) leave no event."""
    ids = seed(org, 3)
    one = org.insert("Opportunity", opportunity(9))
    org.update("Opportunity", ids[0], {"Amount": 1, "LastModifiedById": user_id(7)})
    org.delete("Opportunity", one)
    assert sandbox.journal_events() == []


def test_events_are_a_frozen_copy(org: SalesforceOrg, sandbox: Sandbox, sf: Salesforce) -> None:
    """journal_events returns a copy; clear() forgets; an event cannot be changed."""
    record_id = seed(org, 1)[0]
    sf.Opportunity.update(record_id, {"Amount": 1})
    events = sandbox.journal_events()
    events.clear()
    assert len(sandbox.journal_events(api="salesforce")) == 1
    assert sandbox.journal_events(api="hubspot") == []
    with pytest.raises(AttributeError):
        sandbox.journal_events()[0].record_id = "x"  # type: ignore[misc]
    sandbox.journal.clear()
    assert sandbox.journal_events() == []
    sf.Opportunity.update(record_id, {"Amount": 2})
    assert [e.values for e in sandbox.journal_events()] == [{"Amount": 2}]
