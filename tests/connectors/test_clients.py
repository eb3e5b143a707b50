"""What the connectors do with their clients: Salesforce records flattened by the selected
relationship paths; HubSpot API objects kept, its instants read as UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.salesforce_wire import flattener as _flattener
from connectors.wire import parse_instant as instant

ATTRS = {"type": "Opportunity", "url": "/services/data/v59.0/sobjects/Opportunity/006"}


@pytest.mark.parametrize(
    ("fields", "record", "flat"),
    [
        pytest.param(
            ["Name"], {"attributes": ATTRS, "Id": "006A", "Name": "Deal"},
            {"Id": "006A", "Name": "Deal"}, id="plain-fields-attributes-dropped",
        ),
        pytest.param(
            ["Account.Name", "Account.Website"],
            {"Id": "006A", "Account": {"attributes": ATTRS, "Name": "Acme", "Website": "a.io"}},
            {"Id": "006A", "Account.Name": "Acme", "Account.Website": "a.io"},
            id="relationship",
        ),
        pytest.param(
            ["Account.Name"], {"Id": "006A", "Account": None}, {"Id": "006A", "Account": None},
            id="empty-lookup-gives-no-path",
        ),
        pytest.param(
            ["Account.Owner.Name"],
            {"Id": "006A", "Account": {"attributes": ATTRS, "Owner": {"attributes": ATTRS,
                                                                      "Name": "Rep"}}},
            {"Id": "006A", "Account.Owner.Name": "Rep"},
            id="nested-relationship",
        ),
        pytest.param(
            ["Account.Owner.Name"],
            {"Id": "006A", "Account": {"attributes": ATTRS, "Owner": None}},
            {"Id": "006A", "Account.Owner": None},
            id="nested-empty-lookup",
        ),
        pytest.param(
            ["Name"], {"Id": "006A", "Details__c": {"a": 1}}, {"Id": "006A", "Details__c": {"a": 1}},
            id="a-dict-value-not-selected-as-a-path-is-left-alone",
        ),
    ],
)  # fmt: skip
def test_records_are_flattened_by_the_selected_paths(
    fields: list[str], record: dict[str, Any], flat: dict[str, Any]
) -> None:
    assert _flattener(fields)(record) == flat


def test_hubspot_api_objects_are_built_once_per_client() -> None:
    """The stock client builds an ApiClient (and a connection) per attribute access; the
    connector's client keeps each API object, so calls reuse one connection pool."""
    connector = HubSpotConnector(HubSpotConfig(base_url="http://127.0.0.1:9", access_token="t"))
    api = connector.client.crm.deals.basic_api
    assert connector.client.crm.deals.basic_api is api
    assert connector.client.crm.deals.batch_api is not api
    assert api.api_client.configuration.access_token == "t"


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param("2026-10-23T03:36:49.709Z", datetime(2026, 10, 23, 3, 36, 49, 709000, UTC),
                     id="iso-z"),
        pytest.param("2026-10-23T05:36:49+02:00", datetime(2026, 10, 23, 3, 36, 49, tzinfo=UTC),
                     id="iso-offset"),
        pytest.param(" 2026-10-23T03:36:49Z ", datetime(2026, 10, 23, 3, 36, 49, tzinfo=UTC),
                     id="blanks"),
        pytest.param("1792726609709", datetime(2026, 10, 23, 3, 36, 49, 709000, UTC),
                     id="epoch-ms"),
    ],
)  # fmt: skip
def test_hubspot_instants_are_utc(wire: str, expected: datetime) -> None:
    moment = instant(wire)
    assert moment == expected
    assert moment.tzinfo is UTC
