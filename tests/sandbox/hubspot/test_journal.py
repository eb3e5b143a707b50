"""The write journal, HubSpot side: one event per record the CRM v3 API wrote (each input
of a batch that succeeded), none for refused inputs or the Python API."""

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
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from sandbox.core import Sandbox
from sandbox.hubspot.portal import HubSpotPortal
from tests.sandbox.hubspot.helpers import T0, Clock


def _events(sandbox: Sandbox) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(action, object, record id, values) of every HubSpot event, oldest first."""
    return [
        (e.action, e.object, e.record_id, e.values) for e in sandbox.journal_events(api="hubspot")
    ]


def test_basic_writes_are_journaled(
    sandbox: Sandbox, hs: HubSpot, portal: HubSpotPortal, clock: Clock
) -> None:
    """create, PATCH (by id and by idProperty) and archive: one event each, values as sent."""
    deal = hs.crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"dealname": "New", "partnersync_key": "k-1", "amount": "10"}
        )
    ).id
    hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties={"amount": "11"}))
    hs.crm.deals.basic_api.update(
        "k-1", SimplePublicObjectInput(properties={"amount": ""}), id_property="partnersync_key"
    )
    company = hs.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Acme"})
    ).id
    hs.crm.deals.basic_api.archive(deal)
    hs.crm.deals.basic_api.archive(deal)  # already archived: 204, nothing written
    hs.crm.deals.basic_api.archive("999999")  # unknown: 204, nothing written
    assert _events(sandbox) == [
        ("create", "deals", deal, {"dealname": "New", "partnersync_key": "k-1", "amount": "10"}),
        ("update", "deals", deal, {"amount": "11"}),
        ("update", "deals", deal, {"amount": ""}),
        ("create", "companies", company, {"name": "Acme"}),
        ("delete", "deals", deal, {}),
    ]
    assert {e.at for e in sandbox.journal_events()} == {T0}


def test_refused_writes_are_not_journaled(
    sandbox: Sandbox, hs: HubSpot, make_deal: Callable[..., str]
) -> None:
    """400 (invalid or read-only values), 404 and 409 answers journal nothing."""
    deal = make_deal(partnersync_key="taken")
    other = make_deal()
    calls = (
        lambda: hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties={"amount": "x"})),
        lambda: hs.crm.deals.basic_api.update(deal, SimplePublicObjectInput(properties={"hs_updated_by_user_id": "1"})),
        lambda: hs.crm.deals.basic_api.update("999999", SimplePublicObjectInput(properties={"amount": "1"})),
        lambda: hs.crm.deals.basic_api.update(other, SimplePublicObjectInput(properties={"partnersync_key": "taken"})),
        lambda: hs.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(properties={"bogus": "1"})),
    )  # fmt: skip
    for call in calls:
        with pytest.raises(ApiException):
            call()
    assert sandbox.journal_events() == []


def test_batch_partial_success_journals_only_the_successes(
    sandbox: Sandbox, hs: HubSpot, make_deal: Callable[..., str]
) -> None:
    """A 207 batch update journals the inputs it applied, not the refused or unknown ones."""
    a, b, c = make_deal(), make_deal(), make_deal()
    answer = hs.crm.deals.batch_api.update(
        BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=a, properties={"amount": "1"}),
                SimplePublicObjectBatchInput(id=b, properties={"amount": "ten"}),
                SimplePublicObjectBatchInput(id="999999", properties={"amount": "2"}),
                SimplePublicObjectBatchInput(id=c, properties={"practice": "Data"}),
            ]
        )
    )
    assert len(answer.errors) == 2
    assert _events(sandbox) == [
        ("update", "deals", a, {"amount": "1"}),
        ("update", "deals", c, {"practice": "Data"}),
    ]


def test_batch_create_upsert_archive(
    sandbox: Sandbox, hs: HubSpot, make_deal: Callable[..., str]
) -> None:
    """Batch create, upsert (idProperty value aside) and archive journal each record."""
    existing = make_deal(partnersync_key="k-1")
    created = hs.crm.deals.batch_api.create(
        BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[
                SimplePublicObjectBatchInputForCreate(properties={"dealname": "B1"}),
                SimplePublicObjectBatchInputForCreate(properties={"dealstage": "nope"}),
            ]
        )
    )
    upserted = hs.crm.deals.batch_api.upsert(
        BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(
                    id_property="partnersync_key", id="k-1", properties={"amount": "4"}
                ),
                SimplePublicObjectBatchInputUpsert(
                    id_property="partnersync_key", id="k-2", properties={"dealname": "U2"}
                ),
            ]
        )
    )
    new = {r.id for r in upserted.results if r.new}
    hs.crm.deals.batch_api.archive(
        BatchInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=existing), SimplePublicObjectId(id="999999")]
        )
    )
    assert len(created.results) == 1
    assert len(new) == 1
    assert _events(sandbox) == [
        ("create", "deals", created.results[0].id, {"dealname": "B1"}),
        ("update", "deals", existing, {"amount": "4"}),
        ("create", "deals", next(iter(new)), {"dealname": "U2"}),
        ("delete", "deals", existing, {}),
    ]


def test_python_api_writes_are_not_journaled(sandbox: Sandbox, portal: HubSpotPortal) -> None:
    """create, create_many, update (with or without by_user) and archive leave no event."""
    deal = portal.create("deals", {"dealname": "D"})
    portal.create_many("deals", [{"dealname": "E"}, {"dealname": "F"}])
    portal.update("deals", deal, {"amount": "1"})
    portal.update("deals", deal, {"amount": "2"}, by_user=4242)
    portal.archive("deals", deal)
    assert sandbox.journal_events() == []
