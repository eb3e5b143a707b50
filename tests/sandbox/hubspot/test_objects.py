"""CRM v3 basic object endpoints through the real hubspot-api-client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import (
    ApiException,
    SimplePublicObject,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.deals.exceptions import NotFoundException

from sandbox.hubspot.portal import HubSpotPortal
from tests.sandbox.hubspot.helpers import Clock, Http, error_body

DEFAULTS = {
    "amount",
    "closedate",
    "createdate",
    "dealname",
    "dealstage",
    "hs_lastmodifieddate",
    "hs_object_id",
    "pipeline",
}


def test_create_answers_201_with_the_record(hs: HubSpot, clock: Clock) -> None:
    """POST creates a deal (201 -> a SimplePublicObject) with portal-kept timestamps."""
    created = hs.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"dealname": "New", "amount": "100.50"})
    )
    assert isinstance(created, SimplePublicObject)
    assert created.id.isdigit()
    assert created.properties["dealname"] == "New"
    assert created.properties["amount"] == "100.50"
    assert created.properties["hs_object_id"] == created.id
    assert created.properties["createdate"] == "2024-01-02T00:00:00.000Z"
    assert created.properties["hs_lastmodifieddate"] == "2024-01-02T00:00:00.000Z"
    assert created.created_at == created.updated_at == clock.now
    assert created.archived is False


def test_get_by_id_returns_defaults_or_requested_properties(
    hs: HubSpot, make_deal: Callable[..., str]
) -> None:
    """A read returns the default properties, or the requested ones plus the always-on three."""
    deal = make_deal(dealname="D", amount="5", practice="Cloud")
    plain = hs.crm.deals.basic_api.get_by_id(deal)
    assert set(plain.properties) == DEFAULTS
    assert plain.properties["amount"] == "5"
    assert plain.properties["closedate"] is None
    chosen = hs.crm.deals.basic_api.get_by_id(deal, properties=["practice", "nonexistent"])
    assert chosen.properties == {
        "practice": "Cloud",
        "createdate": plain.properties["createdate"],
        "hs_lastmodifieddate": plain.properties["hs_lastmodifieddate"],
        "hs_object_id": deal,
    }


def test_get_by_unique_id_property(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """idProperty reads a deal by the value of a unique property."""
    deal = make_deal(partnersync_key="ps-7")
    found = hs.crm.deals.basic_api.get_by_id("ps-7", id_property="partnersync_key")
    assert found.id == deal
    with pytest.raises(ApiException) as info:
        hs.crm.deals.basic_api.get_by_id("x", id_property="dealname")
    assert info.value.status == 400


def test_unknown_id_is_404_object_not_found(hs: HubSpot) -> None:
    """An unknown id is a 404 OBJECT_NOT_FOUND (the client's NotFoundException)."""
    with pytest.raises(NotFoundException) as info:
        hs.crm.deals.basic_api.get_by_id("999999")
    assert error_body(info.value)["category"] == "OBJECT_NOT_FOUND"


def test_update_writes_and_bumps_last_modified(
    hs: HubSpot, make_deal: Callable[..., str], clock: Clock
) -> None:
    """PATCH answers 200 with the written properties and a new hs_lastmodifieddate."""
    deal = make_deal(amount="5")
    later = clock.tick(minutes=5)
    updated = hs.crm.deals.basic_api.update(
        deal, SimplePublicObjectInput(properties={"amount": "9", "dealstage": "closedwon"})
    )
    assert updated.properties["amount"] == "9"
    assert updated.properties["hs_lastmodifieddate"] == "2024-01-02T00:05:00.000Z"
    assert updated.updated_at == later
    assert updated.created_at < later
    read = hs.crm.deals.basic_api.get_by_id(deal, properties=["hs_is_closed_won"])
    assert read.properties["hs_is_closed_won"] == "true"


def test_update_by_id_property(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """PATCH with idProperty finds the deal by its unique key."""
    deal = make_deal(partnersync_key="k-1")
    answer = hs.crm.deals.basic_api.update(
        "k-1", SimplePublicObjectInput(properties={"cost": "3"}), id_property="partnersync_key"
    )
    assert answer.id == deal


def test_archive_moves_the_record_to_the_archived_listing(
    hs: HubSpot, make_deal: Callable[..., str], portal: HubSpotPortal, clock: Clock
) -> None:
    """DELETE answers 204; the deal leaves the listing and shows in archived=true."""
    keep, gone = make_deal(dealname="keep"), make_deal(dealname="gone")
    clock.tick(hours=1)
    assert hs.crm.deals.basic_api.archive(gone) is None
    assert [d.id for d in hs.crm.deals.get_all()] == [keep]
    archived = hs.crm.deals.basic_api.get_page(archived=True).results
    assert [d.id for d in archived] == [gone]
    assert archived[0].archived is True
    assert archived[0].archived_at == clock.now
    assert portal.count("deals") == 1
    assert portal.count("deals", archived=True) == 1
    assert hs.crm.deals.basic_api.get_by_id(gone, archived=True).archived is True
    with pytest.raises(NotFoundException):
        hs.crm.deals.basic_api.get_by_id(gone)


@pytest.mark.parametrize(
    ("count", "pages"),
    [
        pytest.param(100, 1, id="exactly-100-one-page"),
        pytest.param(101, 2, id="101-two-pages"),
    ],
)
def test_list_paging_boundaries(hs: HubSpot, portal: HubSpotPortal, count: int, pages: int) -> None:
    """With limit=100, 100 records fit one page (no paging), 101 need a second."""
    ids = portal.create_many("deals", ({"dealname": f"D{i}"} for i in range(count)))
    first = hs.crm.deals.basic_api.get_page(limit=100)
    assert [d.id for d in first.results] == ids[:100]
    if pages == 1:
        assert first.paging is None
    else:
        assert first.paging.next.after
        assert f"after={first.paging.next.after}" in first.paging.next.link
        second = hs.crm.deals.basic_api.get_page(limit=100, after=first.paging.next.after)
        assert [d.id for d in second.results] == ids[100:]
        assert second.paging is None
    assert [d.id for d in hs.crm.deals.get_all()] == ids


@pytest.mark.parametrize(
    ("limit", "expected"),
    [
        pytest.param(None, 10, id="default-10"),
        pytest.param(3, 3, id="explicit"),
        pytest.param(500, 100, id="capped-at-100"),
    ],
)
def test_list_limit(hs: HubSpot, portal: HubSpotPortal, limit: int | None, expected: int) -> None:
    """limit defaults to 10 and is capped at 100."""
    portal.create_many("deals", ({"dealname": f"D{i}"} for i in range(150)))
    page = hs.crm.deals.basic_api.get_page(limit=limit) if limit else None
    page = page or hs.crm.deals.basic_api.get_page()
    assert len(page.results) == expected


def test_values_are_strings_on_the_wire(http: Http, make_deal: Callable[..., str]) -> None:
    """Every property value on the wire is a string or null, whatever its type."""
    deal = make_deal(
        amount="12.5", closedate="1704067200000", paid_date="2024-02-01", dealstage="closedwon"
    )
    names = "amount,closedate,paid_date,hs_is_closed,hs_object_id,cost"
    body = http("GET", f"/crm/v3/objects/deals/{deal}?properties={names}").json()
    assert body["properties"] == {
        "amount": "12.5",
        "closedate": "2024-01-01T00:00:00.000Z",
        "paid_date": "2024-02-01",
        "hs_is_closed": "true",
        "hs_object_id": deal,
        "cost": None,
        "createdate": body["createdAt"],
        "hs_lastmodifieddate": body["updatedAt"],
    }


@pytest.mark.parametrize(
    ("path", "object_type"),
    [
        pytest.param("/crm/v3/objects/0-3", "deals", id="deals-by-type-id"),
        pytest.param("/crm/v3/objects/0-2", "companies", id="companies-by-type-id"),
        pytest.param("/crm/v3/objects/companies", "companies", id="companies-by-name"),
    ],
)
def test_object_type_ids_are_aliases(
    http: Http, portal: HubSpotPortal, path: str, object_type: str
) -> None:
    """Object types are reachable by name and by type id (0-3 deals, 0-2 companies)."""
    record = portal.create(object_type, {"name" if object_type == "companies" else "dealname": "X"})
    assert [r["id"] for r in http("GET", path).json()["results"]] == [record]


def test_inline_company_associations(
    hs: HubSpot,
    make_deal: Callable[..., str],
    make_company: Callable[..., str],
    portal: HubSpotPortal,
) -> None:
    """associations=companies lists the primary company first, with both of its types."""
    deal, other, main = make_deal(), make_company(name="Other"), make_company(name="Main")
    portal.associate(deal, other, primary=False)
    portal.associate(deal, main, primary=True)
    found = hs.crm.deals.basic_api.get_by_id(deal, associations=["companies"])
    links = [(a.id, a.type) for a in found.associations["companies"].results]
    assert links == [
        (main, "deal_to_company"),
        (main, "deal_to_company_unlabeled"),
        (other, "deal_to_company_unlabeled"),
    ]
    page = hs.crm.companies.basic_api.get_page(associations=["deals"])
    by_company = {c.id: c.associations for c in page.results}
    assert [a.type for a in by_company[main]["deals"].results] == [
        "company_to_deal",
        "company_to_deal_unlabeled",
    ]
    lone = hs.crm.deals.basic_api.get_by_id(make_deal(), associations=["companies"])
    assert lone.associations is None


def test_create_with_association(
    hs: HubSpot, make_company: Callable[..., str], portal: HubSpotPortal
) -> None:
    """A create may carry associations (type 5: primary company)."""
    company = make_company()
    created = hs.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"dealname": "With company"},
            associations=[
                {
                    "to": {"id": company},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 5}],
                }
            ],
        )
    )
    assert portal.links.targets("deals", int(created.id)) == [(int(company), True)]
    with pytest.raises(ApiException) as info:
        hs.crm.deals.basic_api.create(
            SimplePublicObjectInputForCreate(
                properties={"dealname": "Bad"},
                associations=[{"to": {"id": company}, "types": [{"associationTypeId": 3}]}],
            )
        )
    assert info.value.status == 400


@pytest.mark.parametrize(
    ("properties", "code", "text"),
    [
        pytest.param({"bogus": "1"}, "PROPERTY_DOESNT_EXIST", 'Property "bogus" does not exist', id="unknown"),
        pytest.param({"hs_is_closed": "true"}, "READ_ONLY_VALUE", "read only", id="calculated"),
        pytest.param({"hs_lastmodifieddate": "1"}, "READ_ONLY_VALUE", "read only", id="read-only"),
        pytest.param({"dealstage": "won"}, "INVALID_OPTION", "allowed options", id="bad-option"),
        pytest.param({"amount": "ten"}, "INVALID_INTEGER", "not a valid number", id="bad-number"),
        pytest.param({"paid_date": "1704067200001"}, "INVALID_DATE", "not midnight!", id="not-midnight"),
        pytest.param({"paid_date": "2024-02-30"}, "INVALID_DATE", "not a valid date", id="bad-day"),
        pytest.param({"closedate": "soon"}, "INVALID_DATETIME", "not a valid datetime", id="bad-instant"),
    ],
)  # fmt: skip
def test_invalid_writes_are_refused(
    hs: HubSpot,
    make_deal: Callable[..., str],
    properties: dict[str, str],
    code: str,
    text: str,
) -> None:
    """Invalid values answer 400 VALIDATION_ERROR with HubSpot's per-property error code."""
    deal = make_deal()
    for call in (
        lambda: hs.crm.deals.basic_api.create(
            SimplePublicObjectInputForCreate(properties=properties)
        ),
        lambda: hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties=properties)),
    ):
        with pytest.raises(ApiException) as info:
            call()
        assert info.value.status == 400
        body = error_body(info.value)
        assert body["category"] == "VALIDATION_ERROR"
        assert body["message"].startswith("Property values were not valid: [")
        assert f'"error":"{code}"' in body["message"]
        assert body["errors"][0]["code"] == code
        assert text in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("name", "written", "read"),
    [
        pytest.param("paid_date", "1706745600000", "2024-02-01", id="date-from-epoch-ms"),
        pytest.param("paid_date", "2024-02-01T00:00:00Z", "2024-02-01", id="date-from-midnight-iso"),
        pytest.param("closedate", "1704067200123", "2024-01-01T00:00:00.123Z", id="datetime-from-epoch-ms"),
        pytest.param("closedate", "2024-01-01T10:00:00+02:00", "2024-01-01T08:00:00.000Z", id="datetime-offset"),
        pytest.param("closedate", "2024-03-01", "2024-03-01T00:00:00.000Z", id="datetime-from-day"),
        pytest.param("amount", "1200.50", "1200.50", id="number-as-written"),
        pytest.param("co_sell_direction", "partner_sourced_direct_sold", "partner_sourced_direct_sold", id="enumeration"),
        pytest.param("amount", "", None, id="empty-clears"),
    ],
)  # fmt: skip
def test_accepted_value_forms(
    hs: HubSpot, make_deal: Callable[..., str], name: str, written: str, read: str | None
) -> None:
    """Dates and instants accept epoch milliseconds and ISO forms, and read back canonical."""
    deal = make_deal(amount="1")
    hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties={name: written}))
    assert hs.crm.deals.basic_api.get_by_id(deal, properties=[name]).properties[name] == read


@pytest.mark.parametrize(
    ("stage", "closed", "won"),
    [
        pytest.param("closedwon", "true", "true", id="won"),
        pytest.param("closedlost", "true", "false", id="lost"),
        pytest.param("contractsent", "false", "false", id="open"),
        pytest.param(None, "false", "false", id="no-stage"),
    ],
)
def test_closed_flags_follow_the_stage(
    hs: HubSpot, make_deal: Callable[..., str], stage: str | None, closed: str, won: str
) -> None:
    """hs_is_closed / hs_is_closed_won are calculated from dealstage."""
    deal = make_deal(dealstage=stage)
    props = hs.crm.deals.basic_api.get_by_id(
        deal, properties=["hs_is_closed", "hs_is_closed_won"]
    ).properties
    assert (props["hs_is_closed"], props["hs_is_closed_won"]) == (closed, won)


def test_duplicate_unique_value_is_409(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """A second deal with the same unique partnersync_key is a 409 CONFLICT."""
    first = make_deal(partnersync_key="dup")
    with pytest.raises(ApiException) as info:
        hs.crm.deals.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"partnersync_key": "dup"})
        )
    assert info.value.status == 409
    assert error_body(info.value)["context"]["id"] == [first]


@pytest.mark.parametrize(
    ("method", "path", "status", "category"),
    [
        pytest.param("GET", "/crm/v3/nothing/here", 404, "OBJECT_NOT_FOUND", id="unknown-path"),
        pytest.param("POST", "/crm/v3/objects/deals/1001", 405, "VALIDATION_ERROR", id="wrong-method"),
        pytest.param("GET", "/crm/v3/objects/widgets", 400, "VALIDATION_ERROR", id="unknown-type"),
        pytest.param("GET", "/crm/v3/objects/contacts", 403, "MISSING_SCOPES", id="unscoped-type"),
        pytest.param("GET", "/crm/v3/objects/deals?limit=x", 400, "VALIDATION_ERROR", id="bad-limit"),
        pytest.param("POST", "/crm/v3/objects/deals", 400, "VALIDATION_ERROR", id="no-body"),
    ],
)  # fmt: skip
def test_refusals_are_json_in_hubspot_shape(
    http: Http, method: str, path: str, status: int, category: str
) -> None:
    """Whatever goes wrong under /crm, the answer is a JSON HubSpot error object."""
    answer = http(method, path)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body["status"] == "error"
    assert body["category"] == category
    assert body["correlationId"]


def test_malformed_json_is_400(http: Http) -> None:
    """A body that is not JSON is a 400 naming where parsing failed."""
    answer = http("POST", "/crm/v3/objects/deals", data=b'{"properties": ')
    assert answer.status_code == 400
    assert answer.json()["message"].startswith("Invalid input JSON on line 1")


def test_properties_with_history(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """propertiesWithHistory returns the current value with its timestamp."""
    deal = make_deal(amount="7")
    found = hs.crm.deals.basic_api.get_by_id(deal, properties_with_history=["amount", "cost"])
    history = found.properties_with_history
    assert [h.value for h in history["amount"]] == ["7"]
    assert history["cost"] == []
