"""A seeded org of 100,000 Opportunities read whole through the real client (no timings)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from simple_salesforce import Salesforce

from sandbox.salesforce.org import SalesforceOrg
from tests.sandbox.salesforce.helpers import T0, opportunity

N = 100_000
SOQL = (
    "SELECT Id, Name, Amount, StageName, CloseDate, Account.Name, SystemModstamp "
    "FROM Opportunity ORDER BY SystemModstamp, Id"
)


@pytest.mark.slow
def test_query_all_iter_reads_a_large_org_in_order(org: SalesforceOrg, sf: Salesforce) -> None:
    """100k seeded rows come back once each, ordered by SystemModstamp then Id, in 50 pages."""
    accounts = org.insert_many("Account", ({"Name": f"Account {i}"} for i in range(1_000)))
    stamps = [T0 - timedelta(seconds=i // 3) for i in range(N)]  # ties, and reverse order
    org.insert_many(
        "Opportunity",
        (
            opportunity(i, AccountId=accounts[i % 1_000], SystemModstamp=stamps[i],
                        LastModifiedDate=stamps[i], CreatedDate=stamps[-1])
            for i in range(N)
        ),
    )  # fmt: skip
    seen = [(r["SystemModstamp"], r["Id"], r["Account"]["Name"]) for r in sf.query_all_iter(SOQL)]
    assert len(seen) == N
    assert len({row[1] for row in seen}) == N
    keys = [(stamp, record_id.lower()) for stamp, record_id, _ in seen]
    assert keys == sorted(keys)
    assert all(name.startswith("Account ") for _, _, name in seen)
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == N
