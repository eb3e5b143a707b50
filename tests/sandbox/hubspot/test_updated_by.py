"""hs_updated_by_user_id: a read-only HubSpot property, set when a person edits a record in
HubSpot's UI (the Python API's ``by_user``) and blanked by every write through the API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from sandbox.hubspot.portal import HubSpotPortal, PortalError
from tests.sandbox.hubspot.helpers import Clock, error_body

FIELD = "hs_updated_by_user_id"
REP = 4242

#: An API write of one deal (given its id and partnersync_key); returns the id written.
Write = Callable[[HubSpot, str, str], str]


def _by(portal: HubSpotPortal, deal: str) -> Any:
    record = portal.get("deals", deal)
    assert record is not None
    return record["properties"][FIELD]


@pytest.mark.parametrize(
    ("object_type", "group"), [("deals", "dealinformation"), ("companies", "companyinformation")]
)
def test_definition(hs: HubSpot, object_type: str, group: str) -> None:
    """Deals and companies define it: HubSpot's own read-only number property."""
    prop = hs.crm.properties.core_api.get_by_name(object_type, FIELD)
    assert (prop.label, prop.type, prop.field_type, prop.group_name) == (
        "Updated by user ID",
        "number",
        "number",
        group,
    )
    assert prop.hubspot_defined is True
    assert prop.modification_metadata.read_only_value is True
    assert prop.modification_metadata.read_only_definition is True
    assert prop.modification_metadata.archivable is False


def test_readable_on_every_read(hs: HubSpot, portal: HubSpotPortal) -> None:
    """get, list, batch read and search return it when asked for (None until a UI edit)."""
    deal = portal.create("deals", {"dealname": "Rep deal"})
    other = portal.create("deals", {"dealname": "Untouched"})
    assert _by(portal, other) is None
    portal.update("deals", deal, {"amount": "5"}, by_user=REP)
    names = ["dealname", FIELD]
    api = hs.crm.deals
    got = api.basic_api.get_by_id(deal, properties=names)
    assert got.properties[FIELD] == "4242"
    assert "hs_updated_by_user_id" not in api.basic_api.get_by_id(deal).properties  # not a default
    listed = api.basic_api.get_page(properties=names).results
    assert {r.id: r.properties[FIELD] for r in listed} == {deal: "4242", other: None}
    read = api.batch_api.read(
        BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=deal), SimplePublicObjectId(id=other)],
            properties=names,
            properties_with_history=[],
        )
    )
    assert {r.id: r.properties[FIELD] for r in read.results} == {deal: "4242", other: None}
    found = api.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": FIELD, "operator": "EQ", "value": "4242"}]}
            ],
            properties=names,
        )
    )
    assert [(r.id, r.properties[FIELD]) for r in found.results] == [(deal, "4242")]
    unset = api.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": FIELD, "operator": "NOT_HAS_PROPERTY"}]}],
            properties=names,
        )
    )
    assert [r.id for r in unset.results] == [other]


def test_api_writes_of_it_are_refused(hs: HubSpot, portal: HubSpotPortal) -> None:
    """Create, PATCH and batch writes naming it get the answer of any read-only property."""
    deal = portal.create("deals", {"dealname": "D", "partnersync_key": "k-1"})
    portal.update("deals", deal, {}, by_user=REP)
    props = {FIELD: "7", "amount": "1"}
    api = hs.crm.deals
    for call in (
        lambda: api.basic_api.create(SimplePublicObjectInputForCreate(properties=props)),
        lambda: api.basic_api.update(deal, SimplePublicObjectInput(properties=props)),
    ):
        with pytest.raises(ApiException) as info:
            call()
        assert info.value.status == 400
        body = error_body(info.value)
        assert body["category"] == "VALIDATION_ERROR"
        assert '"error":"READ_ONLY_VALUE"' in body["message"]
        assert f'"name":"{FIELD}"' in body["message"]
    batches = (
        api.batch_api.create(
            BatchInputSimplePublicObjectBatchInputForCreate(
                inputs=[SimplePublicObjectBatchInputForCreate(properties=props)]
            )
        ),
        api.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[SimplePublicObjectBatchInput(id=deal, properties=props)]
            )
        ),
        api.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id_property="partnersync_key", id="k-1", properties=props
                    )
                ]
            )
        ),
    )
    for answer in batches:
        assert answer.results == []
        assert [e.category for e in answer.errors] == ["VALIDATION_ERROR"]
        assert "READ_ONLY_VALUE" in answer.errors[0].message
    record = portal.get("deals", deal)
    assert record is not None
    assert (record["properties"]["amount"], record["properties"][FIELD]) == (None, "4242")
    assert portal.count() == 1


def test_python_update_by_user_sets_and_clears_it(portal: HubSpotPortal, clock: Clock) -> None:
    """update(by_user=n) records n with the edit; an update without by_user blanks it."""
    deal = portal.create("deals", {"dealname": "D"})
    clock.tick(minutes=1)
    record = portal.update("deals", deal, {"registration_status": "rejected"}, by_user=REP)
    assert record["properties"][FIELD] == "4242"
    assert record["properties"]["registration_status"] == "rejected"
    assert record["updatedAt"] == "2024-01-02T00:01:00.000Z"
    portal.update("deals", deal, {}, by_user=7)
    assert _by(portal, deal) == "7"
    portal.update("deals", deal, {"amount": "3"})
    assert _by(portal, deal) is None
    company = portal.create("companies", {"name": "C"})
    portal.update("companies", company, {"domain": "c.test"}, by_user=REP)
    assert (portal.get("companies", company) or {})["properties"][FIELD] == "4242"


def test_python_update_cannot_name_it_as_a_property(portal: HubSpotPortal) -> None:
    """Its value comes only from ``by_user``: naming it among the properties is a 400."""
    deal = portal.create("deals", {"dealname": "D"})
    with pytest.raises(PortalError) as info:
        portal.update("deals", deal, {FIELD: "1"})
    assert info.value.status == 400
    assert "READ_ONLY_VALUE" in info.value.message


def test_python_create_may_seed_it(portal: HubSpotPortal) -> None:
    """Seeding may create records last edited by someone (create and create_many)."""
    one = portal.create("deals", {"dealname": "A", FIELD: "99"})
    many = portal.create_many("deals", [{"dealname": "B", FIELD: "5"}, {"dealname": "C"}])
    assert [_by(portal, d) for d in (one, *many)] == ["99", "5", None]


def _patch(hs: HubSpot, deal: str, _: str) -> str:
    hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties={"amount": "2"}))
    return deal


def _patch_by_key(hs: HubSpot, deal: str, key: str) -> str:
    hs.crm.deals.basic_api.update(
        key, SimplePublicObjectInput(properties={"amount": "2"}), id_property="partnersync_key"
    )
    return deal


def _batch_update(hs: HubSpot, deal: str, _: str) -> str:
    hs.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=deal, properties={"amount": "2"})]
        )
    )
    return deal


def _batch_upsert(hs: HubSpot, deal: str, key: str) -> str:
    hs.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id_property="partnersync_key", id=key, properties={"amount": "2"}
                )
            ]
        )
    )
    return deal


def _create(hs: HubSpot, _: str, __: str) -> str:
    created = hs.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"dealname": "New"})
    )
    return str(created.id)


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(_patch, id="patch"),
        pytest.param(_patch_by_key, id="patch-by-id-property"),
        pytest.param(_batch_update, id="batch-update"),
        pytest.param(_batch_upsert, id="batch-upsert"),
        pytest.param(_create, id="create"),
    ],
)
def test_an_api_write_leaves_it_blank(hs: HubSpot, portal: HubSpotPortal, write: Write) -> None:
    """After a rep's edit, any write through the API (a private app) blanks it."""
    deal = portal.create("deals", {"dealname": "D", "partnersync_key": "k-1"})
    portal.update("deals", deal, {"amount": "1"}, by_user=REP)
    written = write(hs, deal, "k-1")
    assert _by(portal, written) is None
    record = hs.crm.deals.basic_api.get_by_id(written, properties=["amount", FIELD])
    assert record.properties[FIELD] is None
