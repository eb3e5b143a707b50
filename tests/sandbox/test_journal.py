"""The sandbox's write journal across both APIs: filtering, concurrency, the stats endpoint."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime

import requests
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInput,
    SimplePublicObjectBatchInput,
    SimplePublicObjectInput,
)
from simple_salesforce import Salesforce

from sandbox.core import Sandbox, WriteEvent, WriteJournal
from sandbox.server import SandboxServer

AT = datetime(2026, 1, 1, tzinfo=UTC)


def _event(api: str, record_id: str) -> WriteEvent:
    return WriteEvent(api, "deals", record_id, {"amount": "1"}, AT, "update")  # type: ignore[arg-type]


def test_journal_filters_counts_and_clears() -> None:
    """events(api) and count(api) select one API; clear() empties the journal."""
    journal = WriteJournal()
    journal.extend([_event("hubspot", "1"), _event("salesforce", "a"), _event("hubspot", "2")])
    assert [e.record_id for e in journal.events()] == ["1", "a", "2"]
    assert [e.record_id for e in journal.events("hubspot")] == ["1", "2"]
    assert (journal.count(), journal.count("salesforce"), len(journal)) == (3, 1, 3)
    journal.clear()
    assert (journal.events(), len(journal)) == ([], 0)


def test_concurrent_writes_are_all_journaled(
    sandbox: Sandbox,
    sf_factory: Callable[..., Salesforce],
    hs_factory: Callable[..., HubSpot],
) -> None:
    """Clients of both APIs writing from many threads at once: every write has its event."""
    opportunities = sandbox.salesforce.insert_many(
        "Opportunity",
        (
            {"Name": f"O{i}", "StageName": "Prospecting", "CloseDate": date(2026, 6, 30)}
            for i in range(40)
        ),
    )
    deals = sandbox.hubspot.create_many("deals", ({"dealname": f"D{i}"} for i in range(40)))

    def salesforce(index: int) -> None:
        sf_factory().Opportunity.update(opportunities[index], {"Amount": index})

    def hubspot(index: int) -> None:
        hs = hs_factory()
        if index % 2:
            hs.crm.deals.basic_api.update(
                deals[index], SimplePublicObjectInput(properties={"amount": str(index)})
            )
        else:
            hs.crm.deals.batch_api.update(
                BatchInputSimplePublicObjectBatchInput(
                    inputs=[
                        SimplePublicObjectBatchInput(id=deals[index], properties={"amount": "0"})
                    ]
                )
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(salesforce, i) for i in range(40)]
        futures += [pool.submit(hubspot, i) for i in range(40)]
        for future in futures:
            future.result()
    assert Counter(e.record_id for e in sandbox.journal_events(api="salesforce")) == Counter(
        opportunities
    )
    assert Counter(e.record_id for e in sandbox.journal_events(api="hubspot")) == Counter(deals)
    assert len(sandbox.journal_events()) == 80


def test_stats_show_the_journal_size_per_api(
    sandbox: Sandbox, sandbox_server: SandboxServer, sf: Salesforce, hs: HubSpot
) -> None:
    """GET /_sandbox/stats has ``writes`` per API; DELETE resets calls, not the journal."""
    url = f"{sandbox_server.url}/_sandbox/stats"
    assert requests.get(url, timeout=5).json()["writes"] == {"salesforce": 0, "hubspot": 0}
    sf.Opportunity.create({"Name": "N", "StageName": "Prospecting", "CloseDate": "2026-06-30"})
    deal = sandbox.hubspot.create("deals", {"dealname": "D"})  # the Python API: not counted
    hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties={"amount": "1"}))
    hs.crm.deals.basic_api.archive(deal)
    assert requests.get(url, timeout=5).json()["writes"] == {"salesforce": 1, "hubspot": 2}
    assert requests.delete(url, timeout=5).status_code == 204
    stats = requests.get(url, timeout=5).json()
    assert stats["total"] == 0
    assert stats["writes"] == {"salesforce": 1, "hubspot": 2}
    sandbox.journal.clear()
    assert requests.get(url, timeout=5).json()["writes"] == {"salesforce": 0, "hubspot": 0}
