"""CRM search through the real client: operators, groups, sorts, paging and the 10k cap."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hubspot import HubSpot
from hubspot.crm.deals import ApiException, PublicObjectSearchRequest, SimplePublicObjectInput

from sandbox.hubspot.portal import HubSpotPortal
from sandbox.hubspot.values import ms_to_iso, parse_instant, to_ms
from tests.sandbox.hubspot.helpers import T0, Clock, error_body


def _search(hs: HubSpot, raw: bool = False, **body: Any) -> Any:
    request = PublicObjectSearchRequest(**body)
    if raw:  # the JSON as sent, without the client's model deserialisation
        return orjson.loads(hs.crm.deals.search_api.do_search(request, _preload_content=False).data)
    return hs.crm.deals.search_api.do_search(request)


def _names(hs: HubSpot, filters: list[dict[str, Any]], **body: Any) -> set[str]:
    answer = _search(
        hs, filter_groups=[{"filters": filters}], properties=["dealname"], limit=200, **body
    )
    return {r.properties["dealname"] for r in answer.results}


@pytest.fixture
def deals(make_deal: Callable[..., str], clock: Clock) -> dict[str, str]:
    """Five deals with known values, modified one day apart: name -> id."""
    rows = {
        "Alpha Cloud Platform": {"amount": "9", "dealstage": "closedwon", "practice": "Cloud",
                                 "closedate": "2024-01-10T00:00:00Z", "paid_date": "2024-02-01"},
        "beta data renewal": {"amount": "10", "dealstage": "closedlost", "practice": "Data",
                              "closedate": "2024-02-10T00:00:00Z"},
        "Gamma Security": {"amount": "250.5", "dealstage": "contractsent",
                           "practice": "Security", "closedate": "2024-03-10T00:00:00Z",
                           "paid_date": "2024-04-01"},
        "Delta": {"amount": "-3", "dealstage": "qualifiedtobuy"},
        "Epsilon Networking": {"dealstage": "appointmentscheduled", "practice": "Networking",
                               "description": "cross-sell via partner"},
    }  # fmt: skip
    made = {}
    for name, values in rows.items():
        made[name] = make_deal(dealname=name, **values)
        clock.tick(days=1)
    return made


ALL = {"Alpha Cloud Platform", "beta data renewal", "Gamma Security", "Delta", "Epsilon Networking"}
JAN_15 = str(to_ms(T0.replace(day=15)))


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        pytest.param({"propertyName": "dealname", "operator": "EQ", "value": "BETA DATA RENEWAL"}, {"beta data renewal"}, id="EQ-string-case-insensitive"),
        pytest.param({"propertyName": "amount", "operator": "EQ", "value": "10.0"}, {"beta data renewal"}, id="EQ-number"),
        pytest.param({"propertyName": "practice", "operator": "NEQ", "value": "cloud"}, ALL - {"Alpha Cloud Platform"}, id="NEQ-includes-unset"),
        pytest.param({"propertyName": "amount", "operator": "LT", "value": "10"}, {"Alpha Cloud Platform", "Delta"}, id="LT-numeric-not-lexical"),
        pytest.param({"propertyName": "amount", "operator": "LTE", "value": "10"}, {"Alpha Cloud Platform", "Delta", "beta data renewal"}, id="LTE"),
        pytest.param({"propertyName": "amount", "operator": "GT", "value": "9"}, {"beta data renewal", "Gamma Security"}, id="GT"),
        pytest.param({"propertyName": "amount", "operator": "GTE", "value": "9"}, {"Alpha Cloud Platform", "beta data renewal", "Gamma Security"}, id="GTE"),
        pytest.param({"propertyName": "closedate", "operator": "BETWEEN", "value": "1704844800000", "highValue": "2024-02-10T00:00:00Z"}, {"Alpha Cloud Platform", "beta data renewal"}, id="BETWEEN-datetime-ms-and-iso"),
        pytest.param({"propertyName": "paid_date", "operator": "GTE", "value": "2024-03-01"}, {"Gamma Security"}, id="GTE-date"),
        pytest.param({"propertyName": "paid_date", "operator": "LT", "value": "1709251200000"}, {"Alpha Cloud Platform"}, id="LT-date-epoch-ms"),
        pytest.param({"propertyName": "dealstage", "operator": "IN", "values": ["closedwon", "closedlost"]}, {"Alpha Cloud Platform", "beta data renewal"}, id="IN"),
        pytest.param({"propertyName": "practice", "operator": "NOT_IN", "values": ["cloud", "data"]}, {"Gamma Security", "Delta", "Epsilon Networking"}, id="NOT_IN-includes-unset"),
        pytest.param({"propertyName": "paid_date", "operator": "HAS_PROPERTY"}, {"Alpha Cloud Platform", "Gamma Security"}, id="HAS_PROPERTY"),
        pytest.param({"propertyName": "amount", "operator": "NOT_HAS_PROPERTY"}, {"Epsilon Networking"}, id="NOT_HAS_PROPERTY"),
        pytest.param({"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "cloud"}, {"Alpha Cloud Platform"}, id="CONTAINS_TOKEN"),
        pytest.param({"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "*ing"}, {"Epsilon Networking"}, id="CONTAINS_TOKEN-wildcard"),
        pytest.param({"propertyName": "description", "operator": "CONTAINS_TOKEN", "value": "partner"}, {"Epsilon Networking"}, id="CONTAINS_TOKEN-textarea"),
        pytest.param({"propertyName": "dealname", "operator": "NOT_CONTAINS_TOKEN", "value": "security"}, ALL - {"Gamma Security"}, id="NOT_CONTAINS_TOKEN"),
        pytest.param({"propertyName": "hs_is_closed", "operator": "EQ", "value": "true"}, {"Alpha Cloud Platform", "beta data renewal"}, id="EQ-calculated-bool"),
        pytest.param({"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(to_ms(T0 + timedelta(days=3)))}, {"Delta", "Epsilon Networking"}, id="GTE-lastmodified-ms"),
        pytest.param({"propertyName": "createdate", "operator": "LT", "value": "2024-01-03T00:00:00Z"}, {"Alpha Cloud Platform"}, id="LT-createdate-iso"),
        pytest.param({"propertyName": "hs_object_id", "operator": "EQ", "value": "1002"}, {"beta data renewal"}, id="EQ-object-id"),
    ],
)  # fmt: skip
def test_each_operator(
    hs: HubSpot, deals: dict[str, str], flt: dict[str, Any], expected: set[str]
) -> None:
    """Every filter operator matches what HubSpot's documentation says it matches."""
    assert _names(hs, [flt]) == expected


def test_groups_are_or_filters_are_and(hs: HubSpot, deals: dict[str, str]) -> None:
    """filterGroups are OR-ed; the filters within a group are AND-ed."""
    answer = _search(
        hs,
        filter_groups=[
            {
                "filters": [
                    {"propertyName": "amount", "operator": "GTE", "value": "9"},
                    {"propertyName": "hs_is_closed", "operator": "EQ", "value": "false"},
                ]
            },
            {"filters": [{"propertyName": "practice", "operator": "EQ", "value": "Networking"}]},
        ],
        properties=["dealname"],
    )
    assert {r.properties["dealname"] for r in answer.results} == {
        "Gamma Security",
        "Epsilon Networking",
    }
    assert answer.total == 2


@pytest.mark.parametrize(
    ("sorts", "expected"),
    [
        pytest.param([{"propertyName": "amount", "direction": "DESCENDING"}], ["Gamma Security", "beta data renewal", "Alpha Cloud Platform", "Delta", "Epsilon Networking"], id="object-descending-nulls-last"),
        pytest.param(["amount"], ["Delta", "Alpha Cloud Platform", "beta data renewal", "Gamma Security", "Epsilon Networking"], id="string-ascending"),
        pytest.param(["-hs_lastmodifieddate"], ["Epsilon Networking", "Delta", "Gamma Security", "beta data renewal", "Alpha Cloud Platform"], id="string-descending-instant"),
        pytest.param([{"propertyName": "dealname"}], ["Alpha Cloud Platform", "beta data renewal", "Delta", "Epsilon Networking", "Gamma Security"], id="case-insensitive-text"),
        pytest.param(None, ["Alpha Cloud Platform", "beta data renewal", "Gamma Security", "Delta", "Epsilon Networking"], id="none-is-id-order"),
    ],
)  # fmt: skip
def test_sorts(hs: HubSpot, deals: dict[str, str], sorts: Any, expected: list[str]) -> None:
    """Sorts accept objects and "-name" strings; values sort by type, nulls last."""
    answer = _search(hs, sorts=sorts, properties=["dealname"])
    assert [r.properties["dealname"] for r in answer.results] == expected


def test_free_text_query(hs: HubSpot, deals: dict[str, str]) -> None:
    """query matches word prefixes of the default searchable properties, all words needed."""
    assert {r.properties["dealname"] for r in _search(hs, query="alp clo").results} == {
        "Alpha Cloud Platform"
    }
    assert {r.properties["dealname"] for r in _search(hs, query="cross").results} == {
        "Epsilon Networking"
    }
    assert _search(hs, query="alpha security").total == 0


def test_paging_total_and_properties(hs: HubSpot, deals: dict[str, str]) -> None:
    """after/limit page through the matches; the last page has no paging."""
    first = _search(hs, limit=2)
    assert first.total == 5
    assert first.paging.next.after == "2"
    assert set(first.results[0].properties) == {
        "amount", "closedate", "createdate", "dealname", "dealstage",
        "hs_lastmodifieddate", "hs_object_id", "pipeline",
    }  # fmt: skip
    last = _search(hs, limit=2, after="4", properties=["practice"])
    assert len(last.results) == 1
    assert last.paging is None
    assert set(last.results[0].properties) == {
        "practice", "createdate", "hs_lastmodifieddate", "hs_object_id",
    }  # fmt: skip


def test_search_sees_writes_and_skips_archived(
    hs: HubSpot, deals: dict[str, str], portal: HubSpotPortal, clock: Clock
) -> None:
    """A write or an archive shows in the very next search (cached results are dropped)."""
    flt = [{"propertyName": "amount", "operator": "GT", "value": "100"}]
    assert _names(hs, flt) == {"Gamma Security"}
    clock.tick(hours=1)
    hs.crm.deals.basic_api.update(
        deals["Delta"], SimplePublicObjectInput(properties={"amount": "101"})
    )
    assert _names(hs, flt) == {"Gamma Security", "Delta"}
    portal.archive("deals", deals["Gamma Security"])
    assert _names(hs, flt) == {"Delta"}
    recent = [
        {
            "propertyName": "hs_lastmodifieddate",
            "operator": "GTE",
            "value": str(to_ms(clock.now)),
        }
    ]
    assert _names(hs, recent, sorts=["hs_lastmodifieddate"]) == {"Delta"}


BIG = {"propertyName": "amount", "operator": "GTE", "value": "0"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param({"filter_groups": [{"filters": [BIG]}] * 6}, "maximum is 5", id="six-groups"),
        pytest.param({"filter_groups": [{"filters": [BIG] * 11}]}, "maximum is 10", id="eleven-in-a-group"),
        pytest.param({"filter_groups": [{"filters": [BIG] * 10}] * 2 + [{"filters": [BIG] * 6}]}, "maximum is 25", id="twenty-six-in-all"),
        pytest.param({"limit": 201}, "between 1 and 200", id="limit-over-200"),
        pytest.param({"filter_groups": [{"filters": [{"propertyName": "amount", "operator": "ABOUT", "value": "1"}]}]}, "Unknown filter operator", id="unknown-operator"),
        pytest.param({"filter_groups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]}, "unknown property", id="unknown-property"),
        pytest.param({"filter_groups": [{"filters": [{"propertyName": "amount", "operator": "GT", "value": "x"}]}]}, "not a number", id="bad-number"),
        pytest.param({"filter_groups": [{"filters": [{"propertyName": "amount", "operator": "IN"}]}]}, "'values'", id="IN-without-values"),
        pytest.param({"sorts": ["nope"]}, "unknown property", id="unknown-sort"),
        pytest.param({"after": "x"}, "non-negative integer", id="bad-after"),
    ],
)  # fmt: skip
def test_invalid_searches_are_400(hs: HubSpot, body: dict[str, Any], fragment: str) -> None:
    """Limits and malformed filters are refused with 400 VALIDATION_ERROR."""
    with pytest.raises(ApiException) as info:
        _search(hs, **body)
    assert info.value.status == 400
    error = error_body(info.value)
    assert error["category"] == "VALIDATION_ERROR"
    assert fragment in error["message"]


def test_twenty_five_filters_are_allowed(hs: HubSpot, deals: dict[str, str]) -> None:
    """5 groups and 25 filters in all, at most 10 in a group, are within the limits."""
    groups = [{"filters": [BIG] * 10}, {"filters": [BIG] * 10}, {"filters": [BIG] * 5}]
    assert _search(hs, filter_groups=groups).total == 3


def test_time_index_agrees_with_a_full_scan(
    portal: HubSpotPortal, clock: Clock, hs: HubSpot
) -> None:
    """Time-sorted searches (served from an index) match a brute-force filter and sort."""
    rng = random.Random(5)
    base = to_ms(T0)
    ids = portal.create_many(
        "deals",
        (
            {"dealname": f"D{i}", "hs_lastmodifieddate": ms_to_iso(base - rng.randrange(10**6))}
            for i in range(300)
        ),
    )
    for _ in range(60):  # API writes stamp "now"; archives leave the index
        clock.tick(seconds=rng.choice([0, 0, 1]))
        victim = rng.choice(ids)
        if rng.random() < 0.2:
            portal.archive("deals", victim)
        elif not (portal.get("deals", victim) or {}).get("archived"):
            portal.update("deals", victim, {"amount": str(rng.randrange(100))})
    live = [d for d in (portal.get("deals", i) for i in ids) if d and not d["archived"]]
    for op, value, high in [
        ("GTE", base - 500_000, None),
        ("GT", base - 10, None),
        ("LT", base - 700_000, None),
        ("BETWEEN", base - 600_000, base + 30_000),
        ("EQ", to_ms(clock.now), None),
    ]:
        for direction in ("ASCENDING", "DESCENDING"):
            flt: dict[str, Any] = {"propertyName": "hs_lastmodifieddate", "operator": op}
            flt["value"] = str(value)
            if high is not None:
                flt["highValue"] = str(high)
            got = _search(
                hs,
                raw=True,
                filter_groups=[{"filters": [flt]}],
                sorts=[{"propertyName": "hs_lastmodifieddate", "direction": direction}],
                limit=200,
            )
            got_ids = [r["id"] for r in got["results"]]

            def stamp(d: dict[str, Any]) -> int:
                return parse_instant(d["updatedAt"]) or 0

            def keep(d: dict[str, Any], op: str = op, v: int = value, h: int | None = high) -> bool:
                t = stamp(d)
                return {"GTE": t >= v, "GT": t > v, "LT": t < v, "EQ": t == v,
                        "BETWEEN": h is not None and v <= t <= h}[op]  # fmt: skip

            expected = sorted(
                (d for d in live if keep(d)),
                key=lambda d: (stamp(d) if direction == "ASCENDING" else -stamp(d), int(d["id"])),
            )
            assert got_ids == [d["id"] for d in expected][:200], (op, direction)


@pytest.mark.slow
def test_ten_thousand_results_reachable_not_one_more(hs: HubSpot, portal: HubSpotPortal) -> None:
    """Results 1..10,000 can be paged; going past the 10,000th is HubSpot's 400."""
    portal.create_many("deals", ({"dealname": f"D{i}", "amount": "1"} for i in range(10_050)))
    request = {
        "filter_groups": [{"filters": [BIG]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": ["amount"],
        "limit": 200,
    }
    seen: list[str] = []
    after: str | None = None
    while True:
        page = _search(hs, raw=True, **request, after=after)
        assert page["total"] == 10_050
        seen += [r["id"] for r in page["results"]]
        after = page["paging"]["next"]["after"]
        if int(after) + 200 > 10_000:
            break
    assert len(seen) == len(set(seen)) == 10_000
    assert after == "10000"
    last = _search(hs, **{**request, "limit": 100}, after="9900")
    assert len(last.results) == 100
    for after_, limit in (("10000", 1), ("9900", 101), ("9801", 200)):
        with pytest.raises(ApiException) as info:
            _search(hs, **{**request, "limit": limit}, after=after_)
        assert info.value.status == 400
        error = error_body(info.value)
        assert error["category"] == "VALIDATION_ERROR"
        assert error["message"] == "There was a problem with the request."
        assert "10000" in error["errors"][0]["message"]
