"""The CRM v3 properties API through the real client: truthful definitions and their changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import SimplePublicObjectInput
from hubspot.crm.properties import ApiException, ModelProperty, PropertyCreate, PropertyUpdate
from hubspot.crm.properties.exceptions import NotFoundException

from sandbox.hubspot.portal import HubSpotPortal
from tests.sandbox.hubspot.helpers import Clock, error_body


def test_definitions_describe_the_deal_properties(hs: HubSpot) -> None:
    """get_all lists every deal property with its real type, options and write rules."""
    found = {p.name: p for p in hs.crm.properties.core_api.get_all("deals").results}
    expected_types = {
        "dealname": "string", "amount": "number", "deal_currency_code": "enumeration",
        "dealstage": "enumeration", "pipeline": "enumeration", "closedate": "datetime",
        "hs_is_closed": "bool", "hs_is_closed_won": "bool", "createdate": "datetime",
        "hs_lastmodifieddate": "datetime", "hs_object_id": "number", "description": "string",
        "hs_updated_by_user_id": "number",
        "partner_company_id": "string", "practice": "enumeration",
        "co_sell_direction": "enumeration", "paid_amount": "number", "paid_date": "date",
        "cost": "number", "registration_status": "enumeration", "protected_until": "date",
        "registered_partner": "string", "registration_reason": "string",
        "conflicting_partner": "string", "commission_accrued": "number",
        "payout_status": "enumeration", "payout_reference": "string",
        "payout_paid_date": "date", "partnersync_key": "string",
    }  # fmt: skip
    assert {name: p.type for name, p in found.items()} == expected_types
    assert [o.value for o in found["dealstage"].options] == [
        "appointmentscheduled", "qualifiedtobuy", "presentationscheduled",
        "decisionmakerboughtin", "contractsent", "closedwon", "closedlost",
    ]  # fmt: skip
    assert [o.value for o in found["deal_currency_code"].options] == [
        "USD", "EUR", "GBP", "CAD", "AUD", "JPY",
    ]  # fmt: skip
    direction = {o.value: o.label for o in found["co_sell_direction"].options}
    assert direction["partner_sourced_direct_sold"] == "Partner Sourced / Direct Sold"
    assert found["hs_is_closed"].calculated is True
    assert found["hs_is_closed"].modification_metadata.read_only_value is True
    assert found["hs_object_id"].modification_metadata.read_only_value is True
    assert found["amount"].modification_metadata.read_only_value is False
    assert found["partnersync_key"].has_unique_value is True
    assert found["practice"].group_name == "partnersync"
    assert found["practice"].hubspot_defined is False
    assert found["dealname"].hubspot_defined is True


def test_company_definitions(hs: HubSpot) -> None:
    """Company properties include type and partner tier enumerations."""
    found = {p.name: p for p in hs.crm.properties.core_api.get_all("companies").results}
    assert set(found) == {
        "name", "domain", "type", "industry", "country", "partner_tier",
        "createdate", "hs_lastmodifieddate", "hs_object_id", "hs_updated_by_user_id",
    }  # fmt: skip
    assert [o.value for o in found["type"].options] == [
        "PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER",
    ]  # fmt: skip
    assert [o.value for o in found["partner_tier"].options] == ["registered", "silver", "gold"]


def test_get_by_name_and_unknown_is_404(hs: HubSpot) -> None:
    """get_by_name returns one definition; an unknown name is a 404."""
    prop = hs.crm.properties.core_api.get_by_name("deals", "payout_status")
    assert isinstance(prop, ModelProperty)
    assert [o.value for o in prop.options] == [
        "accrued",
        "approved",
        "scheduled",
        "paid",
        "reversed",
    ]
    with pytest.raises(NotFoundException):
        hs.crm.properties.core_api.get_by_name("deals", "nope")


def test_create_is_201_and_the_property_is_writable(
    hs: HubSpot, make_deal: Callable[..., str], clock: Clock
) -> None:
    """A created property answers 201 with every ModelProperty field and accepts values."""
    created = hs.crm.properties.core_api.create(
        "deals",
        PropertyCreate(
            name="sf_opportunity_id",
            label="Salesforce Opportunity",
            type="string",
            field_type="text",
            group_name="dealinformation",
            has_unique_value=True,
        ),
    )
    assert isinstance(created, ModelProperty)
    assert (created.name, created.type, created.field_type) == (
        "sf_opportunity_id",
        "string",
        "text",
    )
    assert created.has_unique_value is True
    assert (created.description, created.options, created.hidden) == ("", [], False)
    assert (created.form_field, created.display_order, created.calculated) == (False, -1, False)
    assert created.external_options is False
    assert created.archived is False
    assert created.created_at == created.updated_at == clock.now
    deal = make_deal()
    hs.crm.deals.basic_api.update(
        deal, SimplePublicObjectInput(properties={"sf_opportunity_id": "006A"})
    )
    by_key = hs.crm.deals.basic_api.get_by_id("006A", id_property="sf_opportunity_id")
    assert by_key.id == deal


def test_duplicate_name_is_409(hs: HubSpot) -> None:
    """Creating a property whose name is taken answers 409 CONFLICT."""
    with pytest.raises(ApiException) as info:
        hs.crm.properties.core_api.create(
            "deals",
            PropertyCreate(
                name="amount", label="Amount", type="number", field_type="number",
                group_name="dealinformation",
            ),
        )  # fmt: skip
    assert info.value.status == 409
    assert error_body(info.value)["category"] == "CONFLICT"


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        pytest.param({"name": "Bad Name"}, "Invalid property name", id="bad-name"),
        pytest.param({"type": "money"}, "Invalid type", id="bad-type"),
        pytest.param({"field_type": "slider"}, "Invalid fieldType", id="bad-field-type"),
        pytest.param({"type": "number", "field_type": "text"}, "Invalid fieldType", id="mismatch"),
        pytest.param({"type": "enumeration", "field_type": "select"}, "at least one option", id="no-options"),
        pytest.param({"label": ""}, "needs a 'label'", id="no-label"),
    ],
)  # fmt: skip
def test_invalid_definitions_are_400(hs: HubSpot, fields: dict[str, Any], fragment: str) -> None:
    """Definitions HubSpot would refuse answer 400 VALIDATION_ERROR."""
    body = {"name": "ok_name", "label": "Label", "type": "string", "field_type": "text",
            "group_name": "partnersync"} | fields  # fmt: skip
    with pytest.raises(ApiException) as info:
        hs.crm.properties.core_api.create("deals", PropertyCreate(**body))
    assert info.value.status == 400
    assert fragment in error_body(info.value)["message"]


def test_update_changes_label_and_options(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """PATCH answers 200; new options become valid values at once."""
    changed = hs.crm.properties.core_api.update(
        "deals",
        "practice",
        PropertyUpdate(
            label="Practice area",
            options=[{"label": "Cloud", "value": "Cloud"}, {"label": "AI", "value": "AI"}],
        ),
    )
    assert changed.label == "Practice area"
    assert [o.value for o in changed.options] == ["Cloud", "AI"]
    deal = make_deal()
    hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties={"practice": "AI"}))
    assert (
        hs.crm.deals.basic_api.get_by_id(deal, properties=["practice"]).properties["practice"]
        == "AI"
    )


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda hs: hs.crm.properties.core_api.update("deals", "dealstage", PropertyUpdate(label="x")), id="update"),
        pytest.param(lambda hs: hs.crm.properties.core_api.archive("deals", "hs_object_id"), id="archive"),
    ],
)  # fmt: skip
def test_hubspot_defined_definitions_are_read_only(hs: HubSpot, call: Any) -> None:
    """HubSpot-defined properties (readOnlyDefinition) cannot be changed or archived."""
    with pytest.raises(ApiException) as info:
        call(hs)
    assert info.value.status == 400


def test_archive_is_204_and_hides_the_property(
    hs: HubSpot, make_deal: Callable[..., str], portal: HubSpotPortal
) -> None:
    """An archived property leaves the listing, shows with archived=true and refuses writes."""
    assert hs.crm.properties.core_api.archive("deals", "payout_reference") is None
    live = {p.name for p in hs.crm.properties.core_api.get_all("deals").results}
    assert "payout_reference" not in live
    archived = hs.crm.properties.core_api.get_all("deals", archived=True).results
    assert [(p.name, p.archived) for p in archived] == [("payout_reference", True)]
    assert portal.property("deals", "payout_reference") is None
    from hubspot.crm.deals import ApiException as DealsApiException

    with pytest.raises(DealsApiException) as info:
        hs.crm.deals.basic_api.update(
            make_deal(), SimplePublicObjectInput(properties={"payout_reference": "P-1"})
        )
    assert "PROPERTY_DOESNT_EXIST" in error_body(info.value)["message"]


def test_property_groups(http: Any) -> None:
    """The groups of the definitions are listed, the integration's own included."""
    names = [g["name"] for g in http("GET", "/crm/v3/properties/deals/groups").json()["results"]]
    assert names == ["dealinformation", "partnersync"]
