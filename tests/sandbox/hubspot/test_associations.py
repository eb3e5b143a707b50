"""Associations v4 (deal <-> company) through the real client."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    ApiException,
    AssociationSpec,
    BatchInputPublicFetchAssociationsBatchRequest,
    BatchResponsePublicAssociationMultiWithLabel,
    BatchResponsePublicAssociationMultiWithLabelWithErrors,
    BatchResponsePublicDefaultAssociation,
    LabelsBetweenObjectPair,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4.exceptions import NotFoundException

from sandbox.hubspot.portal import HubSpotPortal

Maker = Callable[..., str]


def _types(page: object) -> list[tuple[str, list[int]]]:
    return [(r.to_object_id, [t.type_id for t in r.association_types]) for r in page.results]


def test_get_page_lists_primary_with_both_types(
    hs: HubSpot, make_deal: Maker, make_company: Maker, portal: HubSpotPortal
) -> None:
    """A primary company carries types 5 ("Primary") and 341; the others 341 only."""
    deal, first, second = make_deal(), make_company(), make_company()
    portal.associate(deal, first, primary=True)
    portal.associate(deal, second, primary=False)
    page = hs.crm.associations.v4.basic_api.get_page("deals", deal, "companies", limit=500)
    assert _types(page) == [(first, [5, 341]), (second, [341])]
    assert page.results[0].association_types[0].label == "Primary"
    assert page.paging is None
    back = hs.crm.associations.v4.basic_api.get_page("companies", first, "deals")
    assert _types(back) == [(deal, [6, 342])]


def test_get_page_pages(
    hs: HubSpot, make_deal: Maker, make_company: Maker, portal: HubSpotPortal
) -> None:
    """limit and after page through a long association list."""
    deal = make_deal()
    companies = [make_company() for _ in range(3)]
    for company in companies:
        portal.associate(deal, company, primary=False)
    first = hs.crm.associations.v4.basic_api.get_page("deals", deal, "companies", limit=2)
    assert [r.to_object_id for r in first.results] == companies[:2]
    rest = hs.crm.associations.v4.basic_api.get_page(
        "0-3", deal, "0-2", limit=2, after=first.paging.next.after
    )
    assert [r.to_object_id for r in rest.results] == companies[2:]
    assert rest.paging is None


def test_create_default_is_200(
    hs: HubSpot, make_deal: Maker, make_company: Maker, portal: HubSpotPortal
) -> None:
    """PUT .../default/... answers 200 with the unlabeled association (341)."""
    deal, company = make_deal(), make_company()
    answer = hs.crm.associations.v4.basic_api.create_default("deals", deal, "companies", company)
    assert type(answer) is BatchResponsePublicDefaultAssociation
    assert answer.status == "COMPLETE"
    result = answer.results[0]
    assert (result._from.id, result.to.id) == (deal, company)
    assert result.association_spec.association_type_id == 341
    assert portal.links.targets("deals", int(deal)) == [(int(company), False)]


def test_create_with_specs_is_201_and_primary_moves(
    hs: HubSpot, make_deal: Maker, make_company: Maker, portal: HubSpotPortal
) -> None:
    """PUT with [AssociationSpec] answers 201; a new primary demotes the old one."""
    deal, old, new = make_deal(), make_company(), make_company()
    portal.associate(deal, old, primary=True)
    spec = [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=5)]
    answer = hs.crm.associations.v4.basic_api.create("deals", deal, "companies", new, spec)
    assert type(answer) is LabelsBetweenObjectPair
    assert (answer.from_object_type_id, answer.to_object_type_id) == ("0-3", "0-2")
    assert (answer.from_object_id, answer.to_object_id) == (deal, new)
    assert answer.labels == ["Primary"]
    assert portal.links.targets("deals", int(deal)) == [(int(old), False), (int(new), True)]
    assert portal.links.targets("companies", int(old)) == [(int(deal), False)]


@pytest.mark.parametrize(
    ("type_id", "status"),
    [
        pytest.param(3, 400, id="deal-to-contact-not-emulated"),
        pytest.param(342, 400, id="wrong-direction"),
    ],
)
def test_create_with_bad_spec_is_400(
    hs: HubSpot, make_deal: Maker, make_company: Maker, type_id: int, status: int
) -> None:
    """A type id that does not belong to deal -> company is refused."""
    spec = [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=type_id)]
    with pytest.raises(ApiException) as info:
        hs.crm.associations.v4.basic_api.create(
            "deals", make_deal(), "companies", make_company(), spec
        )
    assert info.value.status == status


def test_unknown_object_is_404(hs: HubSpot, make_deal: Maker) -> None:
    """Associating with an object that does not exist is a 404."""
    with pytest.raises(NotFoundException):
        hs.crm.associations.v4.basic_api.create_default("deals", make_deal(), "companies", "999")


def test_archive_is_204(
    hs: HubSpot, make_deal: Maker, make_company: Maker, portal: HubSpotPortal
) -> None:
    """DELETE removes every type between the pair (204)."""
    deal, company = make_deal(), make_company()
    portal.associate(deal, company)
    assert hs.crm.associations.v4.basic_api.archive("deals", deal, "companies", company) is None
    assert portal.links.targets("deals", int(deal)) == []
    assert portal.links.targets("companies", int(company)) == []


def _batch_read(hs: HubSpot, ids: list[str]) -> object:
    body = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=i) for i in ids]
    )
    return hs.crm.associations.v4.batch_api.get_page("deals", "companies", body)


def test_batch_read_is_200_when_all_have_associations(
    hs: HubSpot, make_deal: Maker, make_company: Maker, portal: HubSpotPortal
) -> None:
    """Batch read answers 200 with each deal's companies and types."""
    company = make_company()
    deals = [make_deal(), make_deal()]
    for deal in deals:
        portal.associate(deal, company)
    answer = _batch_read(hs, deals)
    assert type(answer) is BatchResponsePublicAssociationMultiWithLabel
    assert [(r._from.id, [t.to_object_id for t in r.to]) for r in answer.results] == [
        (deals[0], [company]),
        (deals[1], [company]),
    ]
    assert [t.type_id for t in answer.results[0].to[0].association_types] == [5, 341]


def test_batch_read_is_207_for_unknown_or_unassociated(
    hs: HubSpot, make_deal: Maker, make_company: Maker, portal: HubSpotPortal
) -> None:
    """Unknown ids and deals without companies are reported as errors in a 207."""
    linked, lonely, company = make_deal(), make_deal(), make_company()
    portal.associate(linked, company)
    answer = _batch_read(hs, [linked, lonely, "999"])
    assert type(answer) is BatchResponsePublicAssociationMultiWithLabelWithErrors
    assert [r._from.id for r in answer.results] == [linked]
    assert answer.num_errors == 2
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["999"]}
    assert answer.errors[1].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"
    assert answer.errors[1].context == {"fromObjectId": [lonely]}
