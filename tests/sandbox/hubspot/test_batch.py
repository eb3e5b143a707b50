"""CRM v3 batch endpoints through the real client: exact statuses and 207 partial results."""

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
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObject,
    BatchResponseSimplePublicObjectWithErrors,
    BatchResponseSimplePublicUpsertObject,
    BatchResponseSimplePublicUpsertObjectWithErrors,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)

from sandbox.hubspot.portal import HubSpotPortal
from tests.sandbox.hubspot.helpers import Clock, Http, error_body


def _read(hs: HubSpot, ids: list[str], **kw: Any) -> Any:
    body = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in ids],
        properties=kw.pop("properties", ["amount"]),
        properties_with_history=[],
        id_property=kw.pop("id_property", None),
    )
    return hs.crm.deals.batch_api.read(body, archived=kw.pop("archived", False))


def _update(hs: HubSpot, changes: dict[str, dict[str, str]]) -> Any:
    return hs.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties=p) for i, p in changes.items()]
        )
    )


def test_batch_read_found_is_200(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """A batch read of existing ids answers 200 with every record, in input order."""
    a, b = make_deal(amount="1"), make_deal(amount="2")
    answer = _read(hs, [b, a])
    assert type(answer) is BatchResponseSimplePublicObject
    assert answer.status == "COMPLETE"
    assert [(r.id, r.properties["amount"]) for r in answer.results] == [(b, "2"), (a, "1")]
    assert answer.started_at <= answer.completed_at


def test_batch_read_partial_is_207_with_errors(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """Unknown ids make a 207: the client's WithErrors model lists them in context.ids."""
    deal = make_deal()
    answer = _read(hs, [deal, "999", "998"])
    assert type(answer) is BatchResponseSimplePublicObjectWithErrors
    assert [r.id for r in answer.results] == [deal]
    assert answer.num_errors == 1
    error = answer.errors[0]
    assert error.category == "OBJECT_NOT_FOUND"
    assert error.context == {"ids": ["999", "998"]}
    assert "Could not get some DEAL objects" in error.message


def test_batch_read_by_unique_property_and_archived(
    hs: HubSpot, make_deal: Callable[..., str], portal: HubSpotPortal
) -> None:
    """idProperty reads by unique value; archived=true reads archived records only."""
    deal = make_deal(partnersync_key="k1")
    assert [r.id for r in _read(hs, ["k1"], id_property="partnersync_key").results] == [deal]
    portal.archive("deals", deal)
    assert [r.id for r in _read(hs, [deal], archived=True).results] == [deal]
    assert _read(hs, [deal]).num_errors == 1


def test_batch_create_is_201(
    hs: HubSpot, make_company: Callable[..., str], portal: HubSpotPortal
) -> None:
    """Batch create answers 201 with the new records (associations and trace ids kept)."""
    company = make_company()
    link = [{"to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 341}]}]  # fmt: skip
    answer = hs.crm.deals.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(
                    properties={"dealname": "A"}, associations=link, object_write_trace_id="t1"
                ),
                SimplePublicObjectBatchInputForCreate(properties={"dealname": "B"}),
            ]
        )
    )
    assert type(answer) is BatchResponseSimplePublicObject
    assert [r.properties["dealname"] for r in answer.results] == ["A", "B"]
    assert answer.results[0].object_write_trace_id == "t1"
    assert portal.links.targets("deals", int(answer.results[0].id)) == [(int(company), False)]
    assert portal.count("deals") == 2


def test_batch_create_partial_is_207(hs: HubSpot, portal: HubSpotPortal) -> None:
    """Invalid inputs are reported in a 207 while the valid ones are created."""
    answer = hs.crm.deals.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"dealname": "ok"}),
                SimplePublicObjectBatchInputForCreate(properties={"dealstage": "bogus"}),
            ]
        )
    )
    assert type(answer) is BatchResponseSimplePublicObjectWithErrors
    assert [r.properties["dealname"] for r in answer.results] == ["ok"]
    assert answer.errors[0].category == "VALIDATION_ERROR"
    assert "INVALID_OPTION" in answer.errors[0].message
    assert portal.count("deals") == 1


def test_batch_create_duplicate_unique_value_is_409(
    hs: HubSpot, make_deal: Callable[..., str], portal: HubSpotPortal
) -> None:
    """A unique value taken (or repeated in the batch) refuses the whole batch with 409."""
    make_deal(partnersync_key="taken")
    for keys in (["new", "taken"], ["twice", "twice"]):
        with pytest.raises(ApiException) as info:
            hs.crm.deals.batch_api.create(
                BatchInputSimplePublicObjectBatchInputForCreate(
                    inputs=[
                        SimplePublicObjectBatchInputForCreate(properties={"partnersync_key": k})
                        for k in keys
                    ]
                )
            )
        assert info.value.status == 409
        assert error_body(info.value)["category"] == "CONFLICT"
    assert portal.count("deals") == 1


def test_batch_update_is_200_and_bumps_last_modified(
    hs: HubSpot, make_deal: Callable[..., str], clock: Clock
) -> None:
    """Batch update answers 200; every written record gets a new hs_lastmodifieddate."""
    a, b = make_deal(), make_deal()
    later = clock.tick(seconds=30)
    answer = _update(hs, {a: {"amount": "5"}, b: {"payout_status": "paid"}})
    assert type(answer) is BatchResponseSimplePublicObject
    assert {r.id: r.updated_at for r in answer.results} == {a: later, b: later}
    assert answer.results[1].properties["payout_status"] == "paid"


def test_batch_update_partial_is_207_and_good_records_apply(
    hs: HubSpot, make_deal: Callable[..., str], portal: HubSpotPortal
) -> None:
    """Unknown ids and invalid values become errors naming their ids; the rest is written."""
    good, bad = make_deal(), make_deal()
    answer = _update(hs, {good: {"cost": "7"}, bad: {"cost": "seven"}, "999": {"cost": "1"}})
    assert type(answer) is BatchResponseSimplePublicObjectWithErrors
    assert [r.id for r in answer.results] == [good]
    assert answer.num_errors == 2
    found = {e.category: e.context["ids"] for e in answer.errors}
    assert found == {"OBJECT_NOT_FOUND": ["999"], "VALIDATION_ERROR": [bad]}
    assert portal.get("deals", good)["properties"]["cost"] == "7"
    assert portal.get("deals", bad)["properties"]["cost"] is None


def test_batch_update_duplicate_ids_is_400(hs: HubSpot, make_deal: Callable[..., str]) -> None:
    """The same id twice in one batch refuses the batch."""
    deal = make_deal()
    with pytest.raises(ApiException) as info:
        hs.crm.deals.batch_api.update(
            BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(id=deal, properties={"cost": "1"}),
                    SimplePublicObjectBatchInput(id=deal, properties={"cost": "2"}),
                ]
            )
        )
    assert info.value.status == 400
    assert "Duplicate IDs" in error_body(info.value)["message"]


def _upsert(hs: HubSpot, rows: dict[str, dict[str, str]]) -> Any:
    return hs.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id_property="partnersync_key", id=k, properties=p
                )
                for k, p in rows.items()
            ]
        )
    )


def test_batch_upsert_updates_or_creates_by_unique_key(
    hs: HubSpot, make_deal: Callable[..., str], portal: HubSpotPortal
) -> None:
    """Upsert by idProperty updates the holder of the key or creates it; results carry new."""
    existing = make_deal(partnersync_key="old", amount="1")
    answer = _upsert(hs, {"old": {"amount": "2"}, "fresh": {"dealname": "Fresh"}})
    assert type(answer) is BatchResponseSimplePublicUpsertObject
    assert [(r.id == existing, r.new) for r in answer.results] == [(True, False), (False, True)]
    created = portal.get("deals", answer.results[1].id)
    assert created["properties"]["partnersync_key"] == "fresh"
    assert portal.get("deals", existing)["properties"]["amount"] == "2"
    again = _upsert(hs, {"fresh": {"amount": "3"}})
    assert again.results[0].new is False
    assert portal.count("deals") == 2


def test_batch_upsert_invalid_value_is_207(hs: HubSpot, portal: HubSpotPortal) -> None:
    """An invalid value in an upsert is a 207 VALIDATION_ERROR with empty results."""
    answer = _upsert(hs, {"k": {"amount": "lots"}})
    assert type(answer) is BatchResponseSimplePublicUpsertObjectWithErrors
    assert answer.results == []
    assert answer.errors[0].category == "VALIDATION_ERROR"
    assert answer.errors[0].context["ids"] == ["k"]
    assert portal.count("deals") == 0


def test_batch_archive_is_204(
    hs: HubSpot, make_deal: Callable[..., str], portal: HubSpotPortal
) -> None:
    """Batch archive answers 204 (unknown ids are ignored)."""
    a, b = make_deal(), make_deal()
    body = BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in (a, "9")])
    assert hs.crm.deals.batch_api.archive(body) is None
    assert portal.count("deals") == 1
    assert portal.count("deals", archived=True) == 1
    assert portal.get("deals", b)["archived"] is False


@pytest.mark.parametrize(
    "action", ["read", "create", "update", "upsert", "archive"], ids=lambda a: a
)
def test_more_than_100_inputs_is_400(http: Http, action: str) -> None:
    """Every batch endpoint refuses more than 100 inputs with 400 VALIDATION_ERROR."""
    inputs = [{"id": str(i), "properties": {"dealname": "x"}} for i in range(101)]
    answer = http("POST", f"/crm/v3/objects/deals/batch/{action}", json={"inputs": inputs})
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"
    assert "at most 100" in answer.json()["message"]


def test_companies_batch_read(hs: HubSpot, make_company: Callable[..., str]) -> None:
    """Companies have the same batch endpoints (the adapter reads primary companies so)."""
    from hubspot.crm.companies import BatchReadInputSimplePublicObjectId as Read
    from hubspot.crm.companies import SimplePublicObjectId as Id

    company = make_company(name="Acme", domain="acme.example")
    answer = hs.crm.companies.batch_api.read(
        Read(inputs=[Id(id=company)], properties=["name", "domain"], properties_with_history=[]),
        archived=False,
    )
    assert answer.results[0].properties["domain"] == "acme.example"
