"""Deal <-> company associations: the store, the v3 inline form and the v4 endpoints.

HubSpot-defined type ids: deal -> company 341 (unlabeled) and 5 (primary); company -> deal
342 and 6. A deal has at most one primary company; associating another one as primary
demotes the previous one. A primary association carries both of its types, so v4 lists
``[{typeId 5, label "Primary"}, {typeId 341}]`` and v3 lists ``deal_to_company`` and
``deal_to_company_unlabeled`` (primary first).

The store is compact because the seeder links 200k deals: a deal maps to a tuple of
``company_id << 1 | primary`` codes, a company to a dict of its deals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.hubspot.errors import bad_request, not_found, standard_error
from sandbox.hubspot.values import ms_to_iso

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal
    from sandbox.hubspot.records import ObjectTable

__all__ = [
    "PAIRS",
    "AssociationStore",
    "Pair",
    "archive_pair",
    "batch_read",
    "create_default",
    "create_labelled",
    "list_page",
    "pair_for_type",
    "v3_inline",
]

V4_MAX_LIMIT = 500
V4_BATCH_LIMIT = 1000


@dataclass(frozen=True)
class Pair:
    """One direction of the deal/company association and its HubSpot-defined types."""

    from_type: str
    to_type: str
    unlabeled: int
    primary: int
    name: str

    def v4_types(self, primary: bool) -> list[dict[str, Any]]:
        """``associationTypes`` of one v4 association."""
        plain = {"category": "HUBSPOT_DEFINED", "typeId": self.unlabeled, "label": None}
        if not primary:
            return [plain]
        return [{"category": "HUBSPOT_DEFINED", "typeId": self.primary, "label": "Primary"}, plain]

    def v3_entries(self, other: int, primary: bool) -> list[dict[str, str]]:
        """v3 ``associations.<type>.results`` entries of one association."""
        unlabeled = {"id": str(other), "type": f"{self.name}_unlabeled"}
        return [{"id": str(other), "type": self.name}, unlabeled] if primary else [unlabeled]


PAIRS: dict[tuple[str, str], Pair] = {
    ("deals", "companies"): Pair("deals", "companies", 341, 5, "deal_to_company"),
    ("companies", "deals"): Pair("companies", "deals", 342, 6, "company_to_deal"),
}


def pair_for_type(from_type: str, type_id: int) -> tuple[Pair, bool] | None:
    """The pair a type id belongs to (from ``from_type``), and whether it means primary."""
    for pair in PAIRS.values():
        if pair.from_type == from_type and type_id in (pair.unlabeled, pair.primary):
            return pair, type_id == pair.primary
    return None


class AssociationStore:
    """Both directions of every deal/company association.

    A deal keeps a small tuple of ``company << 1 | primary`` codes (deals have few
    companies, and there are many deals); a company keeps a dict ``deal -> primary``, as a
    company may have thousands of deals.
    """

    def __init__(self) -> None:
        self._deals: dict[int, tuple[int, ...]] = {}
        self._companies: dict[int, dict[int, bool]] = {}

    def targets(self, from_type: str, from_id: int) -> list[tuple[int, bool]]:
        """``(other id, primary)`` of an object's associations, ascending other id."""
        if from_type == "deals":
            return sorted((code >> 1, bool(code & 1)) for code in self._deals.get(from_id, ()))
        return sorted(self._companies.get(from_id, {}).items())

    def link(self, deal: int, company: int, *, primary: bool) -> None:
        """Associate a deal and a company (types add up; primary demotes the old primary)."""
        current = {code >> 1: bool(code & 1) for code in self._deals.get(deal, ())}
        primary = primary or current.get(company, False)
        if primary:
            for other, was_primary in current.items():
                if was_primary and other != company:
                    current[other] = False
                    self._companies[other][deal] = False
        current[company] = primary
        self._deals[deal] = tuple((other << 1) | flag for other, flag in current.items())
        self._companies.setdefault(company, {})[deal] = primary

    def unlink(self, deal: int, company: int) -> bool:
        """Remove every association between a deal and a company; whether there was one."""
        codes = self._deals.get(deal, ())
        kept = tuple(code for code in codes if code >> 1 != company)
        if kept:
            self._deals[deal] = kept
        else:
            self._deals.pop(deal, None)
        deals = self._companies.get(company)
        if deals is not None:
            deals.pop(deal, None)
            if not deals:
                del self._companies[company]
        return len(kept) != len(codes)


def _live(table: ObjectTable, targets: list[tuple[int, bool]]) -> list[tuple[int, bool]]:
    return [(other, primary) for other, primary in targets if table.find(str(other))]


def v3_inline(
    portal: HubSpotPortal, from_type: str, row_id: int, names: Sequence[str]
) -> dict[str, Any] | None:
    """The v3 ``associations`` member of an object read with ``associations=...``."""
    found: dict[str, Any] = {}
    for name in names:
        to_type = portal.known_type(name)
        pair = PAIRS.get((from_type, to_type or ""))
        if pair is None:
            continue
        targets = _live(portal.table(pair.to_type), portal.links.targets(from_type, row_id))
        targets.sort(key=lambda t: (not t[1], t[0]))
        entries = [e for other, primary in targets for e in pair.v3_entries(other, primary)]
        if entries:
            found[pair.to_type] = {"results": entries}
    return found or None


def _pair(portal: HubSpotPortal, from_type: str, to_type: str) -> Pair:
    pair = PAIRS.get((portal.object_type(from_type), portal.object_type(to_type)))
    if pair is None:
        raise bad_request(f"Associations from {from_type} to {to_type} are not supported.")
    return pair


def _ends(portal: HubSpotPortal, pair: Pair, from_id: str, to_id: str) -> tuple[int, int, int, int]:
    """``(deal, company, from, to)`` ids of two live objects, or 404."""
    source = portal.table(pair.from_type).find(from_id)
    target = portal.table(pair.to_type).find(to_id)
    if source is None or target is None:
        missing = from_id if source is None else to_id
        kind = pair.from_type if source is None else pair.to_type
        raise not_found(f"No {kind} with id {missing} exists.", context={"id": [missing]})
    if pair.from_type == "deals":
        return source.id, target.id, source.id, target.id
    return target.id, source.id, source.id, target.id


def list_page(
    portal: HubSpotPortal,
    from_type: str,
    from_id: str,
    to_type: str,
    *,
    limit: int,
    after: str | None,
) -> dict[str, Any]:
    """``GET /crm/v4/objects/{from}/{id}/associations/{to}``: one page, ``after`` = next id."""
    pair = PAIRS.get((portal.object_type(from_type), portal.object_type(to_type)))
    source = portal.table(portal.object_type(from_type)).find(from_id)
    if pair is None or source is None:
        return {"results": []}
    start = int(after) if after and after.isdigit() else 0
    targets = _live(portal.table(pair.to_type), portal.links.targets(pair.from_type, source.id))
    targets = [t for t in targets if t[0] >= start]
    limit = max(1, min(limit, V4_MAX_LIMIT))
    page = targets[:limit]
    body: dict[str, Any] = {
        "results": [
            {"toObjectId": other, "associationTypes": pair.v4_types(primary)}
            for other, primary in page
        ]
    }
    if len(targets) > limit:
        body["paging"] = {"next": {"after": str(targets[limit][0])}}
    return body


def create_default(
    portal: HubSpotPortal, from_type: str, from_id: str, to_type: str, to_id: str
) -> dict[str, Any]:
    """``PUT .../associations/default/{to}/{toId}``: the unlabeled association (200)."""
    started = ms_to_iso(portal.now_ms())
    pair = _pair(portal, from_type, to_type)
    deal, company, source, target = _ends(portal, pair, from_id, to_id)
    portal.links.link(deal, company, primary=False)
    return {
        "status": "COMPLETE",
        "results": [
            {
                "from": {"id": str(source)},
                "to": {"id": str(target)},
                "associationSpec": {
                    "associationCategory": "HUBSPOT_DEFINED",
                    "associationTypeId": pair.unlabeled,
                },
            }
        ],
        "startedAt": started,
        "completedAt": ms_to_iso(portal.now_ms()),
    }


def create_labelled(
    portal: HubSpotPortal, from_type: str, from_id: str, to_type: str, to_id: str, specs: Any
) -> dict[str, Any]:
    """``PUT .../associations/{to}/{toId}`` with ``[AssociationSpec]`` (201)."""
    pair = _pair(portal, from_type, to_type)
    if not isinstance(specs, list) or not specs:
        raise bad_request("The request body must be a non-empty array of association specs.")
    primary = False
    for spec in specs:
        type_id = spec.get("associationTypeId") if isinstance(spec, dict) else None
        category = spec.get("associationCategory") if isinstance(spec, dict) else None
        if category != "HUBSPOT_DEFINED" or type_id not in (pair.unlabeled, pair.primary):
            raise bad_request(
                f"{category} association type {type_id} is not valid between "
                f"{pair.from_type} and {pair.to_type} (expected HUBSPOT_DEFINED "
                f"{pair.unlabeled} or {pair.primary})."
            )
        primary = primary or type_id == pair.primary
    deal, company, source, target = _ends(portal, pair, from_id, to_id)
    portal.links.link(deal, company, primary=primary)
    now_primary = dict(portal.links.targets(pair.from_type, source)).get(target, False)
    return {
        "fromObjectTypeId": portal.table(pair.from_type).schema.type_id,
        "fromObjectId": source,
        "toObjectTypeId": portal.table(pair.to_type).schema.type_id,
        "toObjectId": target,
        "labels": ["Primary"] if now_primary else [],
    }


def archive_pair(
    portal: HubSpotPortal, from_type: str, from_id: str, to_type: str, to_id: str
) -> None:
    """``DELETE .../associations/{to}/{toId}``: removes every type between the two (204)."""
    pair = _pair(portal, from_type, to_type)
    if not (from_id.isdigit() and to_id.isdigit()):
        return
    source, target = int(from_id), int(to_id)
    if pair.from_type == "deals":
        portal.links.unlink(source, target)
    else:
        portal.links.unlink(target, source)


def batch_read(
    portal: HubSpotPortal, from_type: str, to_type: str, body: Any
) -> tuple[int, dict[str, Any]]:
    """``POST /crm/v4/associations/{from}/{to}/batch/read``: 200, or 207 with errors.

    Unknown ids are ``OBJECT_NOT_FOUND``; an object without associations is reported the
    way HubSpot does, as an error with sub-category ``NO_ASSOCIATIONS_FOUND``.
    """
    started = ms_to_iso(portal.now_ms())
    pair = _pair(portal, from_type, to_type)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise bad_request("The request body must have an 'inputs' array.")
    if len(inputs) > V4_BATCH_LIMIT:
        raise bad_request(f"Batch read accepts at most {V4_BATCH_LIMIT} inputs.")
    source_table = portal.table(pair.from_type)
    target_table = portal.table(pair.to_type)
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    missing: list[str] = []
    for item in inputs:
        raw = str(item.get("id", "")) if isinstance(item, dict) else ""
        row = source_table.find(raw)
        if row is None:
            missing.append(raw)
            continue
        targets = _live(target_table, portal.links.targets(pair.from_type, row.id))
        if not targets:
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"No {target_table.schema.singular} is associated with "
                    f"{source_table.schema.singular} {raw}.",
                    {"fromObjectId": [raw]},
                    subCategory="crm.associations.NO_ASSOCIATIONS_FOUND",
                )
            )
            continue
        results.append(
            {
                "from": {"id": raw},
                "to": [
                    {"toObjectId": other, "associationTypes": pair.v4_types(primary)}
                    for other, primary in targets
                ],
            }
        )
    if missing:
        errors.insert(
            0,
            standard_error(
                "OBJECT_NOT_FOUND",
                f"Could not get some {source_table.schema.singular.upper()} objects, they may "
                "be deleted or not exist. Check that ids are valid.",
                {"ids": missing},
            ),
        )
    answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errors:
        answer["numErrors"] = len(errors)
        answer["errors"] = errors
    answer["startedAt"] = started
    answer["completedAt"] = ms_to_iso(portal.now_ms())
    return (207 if errors else 200), answer
