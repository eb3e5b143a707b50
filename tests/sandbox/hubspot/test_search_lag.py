"""HubSpot search lags behind writes (``search_lag_seconds``); reads by id, listings and
batch reads do not. The lag counts on ``sandbox.monotonic``, replaced here by a ticker."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.core import Sandbox
from tests.sandbox.hubspot.helpers import Http

LAG = 3.0


class Ticker:
    """A settable monotonic clock (seconds)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ticker(sandbox: Sandbox) -> Ticker:
    fake = Ticker()
    sandbox.monotonic = fake
    sandbox.reconfigure(search_lag_seconds=LAG)
    return fake


def _search(http: Http, *filters: dict[str, Any]) -> list[dict[str, Any]]:
    body: dict[str, Any] = {"limit": 100, "properties": ["dealname", "amount"]}
    if filters:
        body["filterGroups"] = [{"filters": list(filters)}]
    answer = http("POST", "/crm/v3/objects/deals/search", json=body)
    assert answer.status_code == 200, answer.text
    results: list[dict[str, Any]] = answer.json()["results"]
    return results


def _create(http: Http, **properties: str) -> str:
    answer = http("POST", "/crm/v3/objects/deals", json={"properties": properties})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _amount(amount: str) -> dict[str, Any]:
    return {"propertyName": "amount", "operator": "EQ", "value": amount}


def test_a_new_record_is_searchable_only_after_the_lag(ticker: Ticker, http: Http) -> None:
    """Created now: absent from search, present by id, in the listing and in batch read;
    searchable once the lag has passed."""
    deal = _create(http, dealname="Hooli", amount="10")
    assert _search(http) == []
    assert http("GET", f"/crm/v3/objects/deals/{deal}").status_code == 200
    listed = http("GET", "/crm/v3/objects/deals").json()["results"]
    assert [r["id"] for r in listed] == [deal]
    read = http("POST", "/crm/v3/objects/deals/batch/read", json={"inputs": [{"id": deal}]})
    assert [r["id"] for r in read.json()["results"]] == [deal]
    ticker.now += LAG - 0.01
    assert _search(http) == []
    ticker.now += 0.02
    assert [r["id"] for r in _search(http)] == [deal]


def test_an_update_shows_its_old_values_within_the_lag(
    sandbox: Sandbox, ticker: Ticker, http: Http
) -> None:
    """Within the lag search matches and shows the values before the write."""
    deal = _create(http, dealname="Hooli", amount="10")
    ticker.now += LAG + 1
    patched = http("PATCH", f"/crm/v3/objects/deals/{deal}", json={"properties": {"amount": "20"}})
    assert patched.status_code == 200
    assert _search(http, _amount("20")) == []
    [old] = _search(http, _amount("10"))
    assert old["properties"]["amount"] == "10"
    assert http("GET", f"/crm/v3/objects/deals/{deal}").json()["properties"]["amount"] == "20"
    ticker.now += LAG + 0.01
    assert _search(http, _amount("10")) == []
    assert [r["properties"]["amount"] for r in _search(http, _amount("20"))] == ["20"]


def test_several_writes_show_in_the_order_they_were_made(
    sandbox: Sandbox, ticker: Ticker, http: Http
) -> None:
    """Search shows the record as of ``now - lag``: each write appears in its turn."""
    deal = _create(http, dealname="D", amount="1")
    ticker.now += 1
    sandbox.hubspot.update("deals", deal, {"amount": "2"})  # a person, in the UI
    ticker.now += 1
    sandbox.hubspot.update("deals", deal, {"amount": "3"})
    seen = []
    for _ in range(4):
        found = _search(http)
        seen.append(found[0]["properties"]["amount"] if found else None)
        ticker.now += 1
    assert seen == [None, "1", "2", "3"]


def test_an_archived_record_stays_in_search_within_the_lag(
    sandbox: Sandbox, ticker: Ticker, http: Http
) -> None:
    """An archive, like any write, reaches search only after the lag."""
    deal = _create(http, dealname="Gone", amount="5")
    ticker.now += LAG + 1
    assert http("DELETE", f"/crm/v3/objects/deals/{deal}").status_code == 204
    assert http("GET", f"/crm/v3/objects/deals/{deal}").status_code == 404
    assert [r["id"] for r in _search(http)] == [deal]
    ticker.now += LAG + 1
    assert _search(http) == []


def test_seeded_records_and_no_lag_are_immediate(sandbox: Sandbox, http: Http) -> None:
    """Without a lag (the library default) writes are searchable at once, and records
    seeded in bulk are searchable at once even with one."""
    assert sandbox.config.search_lag_seconds == 0
    deal = _create(http, dealname="Now", amount="7")
    assert [r["id"] for r in _search(http)] == [deal]
    sandbox.reconfigure(search_lag_seconds=60)
    seeded = sandbox.hubspot.create_many("deals", [{"dealname": "Seeded", "amount": "8"}])
    assert [r["id"] for r in _search(http, _amount("8"))] == seeded
