"""The HubSpotPortal Python API (seeder and tests): no HTTP involved."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import SimplePublicObjectInput

from sandbox.core import Sandbox
from sandbox.hubspot.errors import PortalError
from sandbox.hubspot.portal import FIRST_ID, HubSpotPortal
from sandbox.seed import PARTNERS, seed_hubspot
from tests.sandbox.hubspot.helpers import T0, Clock


def test_create_get_update_archive(portal: HubSpotPortal, clock: Clock) -> None:
    """create returns a numeric id; update bumps hs_lastmodifieddate; archive hides it."""
    deal = portal.create("deals", {"dealname": "D", "amount": "10"})
    assert deal == str(FIRST_ID)
    record = portal.get("deals", deal)
    assert record is not None
    assert record["properties"]["amount"] == "10"
    assert record["properties"]["practice"] is None
    assert record["createdAt"] == record["updatedAt"] == "2024-01-02T00:00:00.000Z"
    clock.tick(seconds=1.5)
    updated = portal.update("deals", deal, {"amount": "11"})
    assert updated["properties"]["hs_lastmodifieddate"] == "2024-01-02T00:00:01.500Z"
    assert updated["createdAt"] == "2024-01-02T00:00:00.000Z"
    portal.archive("deals", deal)
    portal.archive("deals", deal)  # archiving twice changes nothing
    assert (portal.count("deals"), portal.count("deals", archived=True)) == (0, 1)
    archived = portal.get("deals", deal)
    assert archived is not None
    assert archived["archived"] is True
    assert archived["archivedAt"] == "2024-01-02T00:00:01.500Z"
    assert portal.get("deals", "999") is None


def test_create_with_explicit_timestamps(portal: HubSpotPortal) -> None:
    """created_at / updated_at set the record's instants (updated defaults to created)."""
    earlier = T0 - timedelta(days=30)
    one = portal.create("deals", {"dealname": "A"}, created_at=earlier)
    two = portal.create("deals", {"dealname": "B"}, created_at=earlier, updated_at=T0)
    assert portal.get("deals", one)["updatedAt"] == "2023-12-03T00:00:00.000Z"
    assert portal.get("deals", two)["updatedAt"] == "2024-01-02T00:00:00.000Z"


def test_create_many_keeps_order_and_timestamps(portal: HubSpotPortal, clock: Clock) -> None:
    """create_many returns ids in input order and honours createdate / hs_lastmodifieddate."""
    ids = portal.create_many(
        "deals",
        [
            {"dealname": "A", "createdate": "2023-05-01T10:00:00.000Z",
             "hs_lastmodifieddate": "2023-06-01T10:00:00.250Z"},
            {"dealname": "B"},
        ],
    )  # fmt: skip
    assert ids == [str(FIRST_ID), str(FIRST_ID + 1)]
    first, second = (portal.get("deals", i) for i in ids)
    assert first["createdAt"] == "2023-05-01T10:00:00.000Z"
    assert first["updatedAt"] == "2023-06-01T10:00:00.250Z"
    assert second["createdAt"] == "2024-01-02T00:00:00.000Z"


@pytest.mark.parametrize(
    ("call", "status", "fragment"),
    [
        pytest.param(lambda p: p.create("deals", {"nope": "1"}), 400, "PROPERTY_DOESNT_EXIST", id="unknown-property"),
        pytest.param(lambda p: p.create_many("deals", [{"dealname": "ok"}, {"dealstage": "x"}]), 400, "row 1:", id="bad-row-named"),
        pytest.param(lambda p: p.update("deals", "999", {"amount": "1"}), 404, "999", id="update-unknown"),
        pytest.param(lambda p: p.archive("deals", "999"), 404, "999", id="archive-unknown"),
        pytest.param(lambda p: p.associate("999", "998"), 404, "999", id="associate-unknown"),
        pytest.param(lambda p: p.count("contacts"), 403, "scopes", id="unscoped-type"),
        pytest.param(lambda p: p.count("widgets"), 400, "widgets", id="unknown-type"),
    ],
)  # fmt: skip
def test_refusals_raise_portal_error(
    portal: HubSpotPortal, call: Callable[[HubSpotPortal], object], status: int, fragment: str
) -> None:
    """The Python API refuses what the HTTP API refuses, as PortalError with the status."""
    with pytest.raises(PortalError) as info:
        call(portal)
    assert info.value.status == status
    assert fragment in info.value.message


def test_unique_values_conflict(portal: HubSpotPortal) -> None:
    """A unique value may be held by one live record; archiving frees it."""
    first = portal.create("deals", {"partnersync_key": "k"})
    with pytest.raises(PortalError) as info:
        portal.create("deals", {"partnersync_key": "k"})
    assert info.value.status == 409
    portal.archive("deals", first)
    assert portal.create("deals", {"partnersync_key": "k"})


def test_associate_and_primary_demotion(portal: HubSpotPortal) -> None:
    """associate links a deal and a company; a new primary demotes the previous one."""
    deal = portal.create("deals", {"dealname": "D"})
    a = portal.create("companies", {"name": "A"})
    b = portal.create("companies", {"name": "B"})
    portal.associate(deal, a)
    portal.associate(deal, b, primary=True)
    portal.associate(deal, a, primary=False)  # adding a type never removes one
    assert portal.links.targets("deals", int(deal)) == [(int(a), False), (int(b), True)]
    assert portal.links.targets("companies", int(b)) == [(int(deal), True)]


def test_schema_describes_properties(portal: HubSpotPortal) -> None:
    """The definitions are reachable for describe-like checks."""
    stage = portal.property("deals", "dealstage")
    assert stage is not None
    assert stage.type == "enumeration"
    assert "closedwon" in stage.choices
    key = portal.property("deals", "partnersync_key")
    assert key is not None
    assert key.has_unique_value
    assert {p.name for p in portal.schema("companies")} >= {"name", "domain", "partner_tier"}
    assert portal.property("deals", "nope") is None


def test_seed_hubspot_fills_the_portal(sandbox: Sandbox) -> None:
    """The seeder's HubSpot half creates partners, customers and associated deals."""
    seed_hubspot(sandbox, 80)
    portal = sandbox.hubspot
    assert portal.count("deals") == 80
    assert portal.count("companies") == len(PARTNERS) + 20
    deal = portal.get("deals", str(FIRST_ID + len(PARTNERS) + 20))
    assert deal is not None
    assert deal["properties"]["pipeline"] == "default"
    assert deal["createdAt"] <= deal["updatedAt"] < "2026-11-01T12:00:00.001Z"
    assert portal.links.targets("deals", int(deal["id"]))[0][1] is True


def test_records_are_compact(portal: HubSpotPortal) -> None:
    """A record holds only its values: no property names, no copies of definitions."""
    deal = portal.create("deals", {"dealname": "D", "dealstage": "closedwon"})
    other = portal.create("deals", {"dealname": "E", "dealstage": "closedwon"})
    table = portal.table("deals")
    one, two = table.find(deal), table.find(other)
    assert one is not None
    assert two is not None
    assert not hasattr(one, "__dict__")
    assert all(isinstance(v, str | int | type(None)) for v in one.values)
    slot = portal.schema("deals").get("dealstage").slot
    assert one.values[slot] is two.values[slot]  # enumeration values are shared


def test_concurrent_http_and_python_writes(
    sandbox: Sandbox, hs_factory: Callable[..., HubSpot], portal: HubSpotPortal
) -> None:
    """HTTP writers and Python writers in other threads never corrupt the portal."""
    ids = portal.create_many("deals", ({"dealname": f"D{i}", "amount": "0"} for i in range(8)))

    def http_write(i: int) -> None:
        hs_factory().crm.deals.basic_api.update(
            ids[i % 8], SimplePublicObjectInput(properties={"cost": str(i)})
        )

    def python_write(i: int) -> None:
        portal.update("deals", ids[i % 8], {"amount": str(i)})
        portal.create("deals", {"dealname": f"new {i}"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda i: http_write(i) if i % 2 else python_write(i), range(64)))
    assert portal.count("deals") == 8 + 32
    assert sandbox.stats.count("PATCH /crm/v3/objects/{object_type}/{object_id}") == 32
