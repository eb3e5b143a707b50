"""A 100k-deal portal: full listing and an incremental search through the real client.

Nothing here is timed (the records/s are reported, not asserted); the point is that the
cursor logic and the time index stay right at the scale of a real account.
"""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from hubspot import HubSpot
from hubspot.crm.deals import PublicObjectSearchRequest, SimplePublicObjectInput

from sandbox.hubspot.portal import HubSpotPortal
from sandbox.hubspot.values import ms_to_iso, to_ms
from tests.sandbox.hubspot.helpers import T0, Clock

N = 100_000


@pytest.fixture
def big(portal: HubSpotPortal, clock: Clock) -> list[str]:
    """100k deals, modified one second apart in reverse id order, through create_many."""
    start = to_ms(T0 - timedelta(days=10))
    return portal.create_many(
        "deals",
        (
            {
                "dealname": f"Deal {i}",
                "amount": str(i % 997),
                "dealstage": "closedwon" if i % 4 == 0 else "contractsent",
                "createdate": ms_to_iso(start),
                "hs_lastmodifieddate": ms_to_iso(start + (N - i) * 1000),
            }
            for i in range(N)
        ),
    )


@pytest.mark.slow
def test_full_listing_of_100k(hs: HubSpot, big: list[str]) -> None:
    """Paging the whole list (100 a page) returns every deal exactly once, in id order."""
    seen: list[str] = []
    after: str | None = None
    while True:
        raw = hs.crm.deals.basic_api.get_page(
            limit=100, after=after, properties=["amount", "dealstage"], _preload_content=False
        )
        page = orjson.loads(raw.data)
        seen += [r["id"] for r in page["results"]]
        if "paging" not in page:
            break
        after = page["paging"]["next"]["after"]
    assert seen == big


@pytest.mark.slow
def test_incremental_search_over_100k(hs: HubSpot, big: list[str], clock: Clock) -> None:
    """hs_lastmodifieddate >= since, ascending, finds the right window, then sees new writes."""
    since = to_ms(T0 - timedelta(days=10)) + (N - 500) * 1000  # the 501 oldest-id deals

    def window() -> tuple[int, list[str]]:
        answer = hs.crm.deals.search_api.do_search(
            PublicObjectSearchRequest(
                filter_groups=[{"filters": [{"propertyName": "hs_lastmodifieddate",
                                             "operator": "GTE", "value": str(since)}]}],
                sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                properties=["amount"],
                limit=200,
            ),
            _preload_content=False,
        )  # fmt: skip
        page = orjson.loads(answer.data)
        return page["total"], [r["id"] for r in page["results"]]

    total, ids = window()
    assert total == 501
    assert ids == list(reversed(big[:501]))[:200]
    hs.crm.deals.basic_api.update(big[-1], SimplePublicObjectInput(properties={"amount": "1"}))
    total, ids = window()
    assert total == 502
    assert ids[0] == big[500]
