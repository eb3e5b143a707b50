"""People in the sandbox's CRMs: Salesforce users, and edits made in the CRMs' screens."""

from __future__ import annotations

from decimal import Decimal

import pytest
from simple_salesforce import Salesforce

from sandbox import SALESFORCE_USERS, Sandbox, salesforce_user, seed_hubspot, seed_salesforce


def test_salesforce_users_are_records_soql_can_name(sandbox: Sandbox, sf: Salesforce) -> None:
    """The integration user and 50 reps are User records; LastModifiedBy.Name resolves."""
    assert sandbox.salesforce.count("User") == len(SALESFORCE_USERS) == 51
    seed_salesforce(sandbox, 3)
    record = sandbox.record_ids("salesforce", "Opportunity")[1]
    sandbox.edit("salesforce", "Opportunity", record, {"Description": "x"}, user=9)
    rows = sf.query(f"SELECT Id, LastModifiedBy.Name FROM Opportunity WHERE Id = '{record}'")
    assert rows["records"][0]["LastModifiedBy"]["Name"] == salesforce_user(9).name
    users = sf.query("SELECT Id, Name FROM User WHERE IsActive = true")
    assert users["totalSize"] == 51


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_person_edits_and_deletes_in_the_crm(crm: str, sandbox: Sandbox) -> None:
    """Edits name their editor (LastModifiedById / hs_updated_by_user_id); deletes leave
    the live listing."""
    obj, amount, editor = {
        "salesforce": ("Opportunity", "Amount", "LastModifiedById"),
        "hubspot": ("deals", "amount", "hs_updated_by_user_id"),
    }[crm]
    (seed_salesforce if crm == "salesforce" else seed_hubspot)(sandbox, 5)
    ids = sandbox.record_ids(crm, obj)
    assert len(ids) == 5
    sandbox.edit(crm, obj, ids[0], {amount: Decimal("12.5")}, user=4)
    assert Decimal(str(sandbox.value(crm, obj, ids[0], amount))) == Decimal("12.5")
    expected = salesforce_user(4).id if crm == "salesforce" else "4"
    assert sandbox.value(crm, obj, ids[0], editor) == expected
    sandbox.delete(crm, obj, ids[1])
    assert sandbox.record_ids(crm, obj) == [ids[0], *ids[2:]]


def test_unknown_users_are_refused() -> None:
    with pytest.raises(ValueError, match="users 0 to 50"):
        salesforce_user(51)
