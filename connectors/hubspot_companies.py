"""Each HubSpot deal's primary company (name, domain...), fetched in batches and kept.

A full load lists every company once (100 a call), so its pages need no look-ups; an
incremental search page costs one v4 association batch read, plus one company batch read
per 100 companies not seen before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.companies import BatchReadInputSimplePublicObjectId, SimplePublicObjectId

from connectors.hubspot_wire import BATCH_LIMIT, LIST_LIMIT, primary

__all__ = ["Companies"]


class Companies:
    """Company properties by id, filled through ``raw`` (one API call, its JSON body)."""

    def __init__(self, raw: Callable[..., dict[str, Any]]) -> None:
        self._raw = raw
        self._known: dict[str, dict[str, Any]] = {}

    def prefetch(self, company_props: Sequence[str]) -> None:
        """List every company once (100 a call) so a full load needs no per-page lookups."""
        after: str | None = None
        wanted = list(dict.fromkeys(["name", "domain", *company_props]))
        while True:

            def call(hs: HubSpot, after: Any = after) -> Any:
                return hs.crm.companies.basic_api.get_page(
                    limit=LIST_LIMIT,
                    after=after,
                    properties=wanted,
                    archived=False,
                    _preload_content=False,
                )

            page = self._raw(call, endpoint="companies/list")
            for item in page.get("results") or []:
                self._known[str(item["id"])] = item.get("properties") or {}
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    def inline(self, results: Sequence[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
        links: dict[str, str] = {}
        for raw in results:
            assoc = ((raw.get("associations") or {}).get("companies") or {}).get("results") or []
            chosen = primary(assoc, id_key="id", type_key="type")
            if chosen:
                links[raw["id"]] = chosen
        return self._values(links)

    def of_deals(self, deal_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        links: dict[str, str] = {}
        for start in range(0, len(deal_ids), BATCH_LIMIT):
            chunk = deal_ids[start : start + BATCH_LIMIT]
            body = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=d) for d in chunk]
            )

            def call(hs: HubSpot, body: Any = body) -> Any:
                return hs.crm.associations.v4.batch_api.get_page(
                    "deals", "companies", body, _preload_content=False
                )

            page = self._raw(call, endpoint="associations/batch/read")
            for item in page.get("results") or []:
                chosen = primary(item.get("to") or [], id_key="toObjectId", type_key=None)
                if chosen:
                    links[str((item.get("from") or {}).get("id"))] = chosen
        return self._values(links)

    def _values(self, links: Mapping[str, str]) -> dict[str, Mapping[str, Any]]:
        missing = sorted({c for c in links.values() if c not in self._known})
        for start in range(0, len(missing), BATCH_LIMIT):
            chunk = missing[start : start + BATCH_LIMIT]
            body = BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=c) for c in chunk],
                properties=["name", "domain"],
                properties_with_history=[],
            )

            def call(hs: HubSpot, body: Any = body) -> Any:
                return hs.crm.companies.batch_api.read(body, archived=False, _preload_content=False)

            page = self._raw(call, endpoint="companies/batch/read")
            for item in page.get("results") or []:
                self._known[str(item["id"])] = item.get("properties") or {}
            for company in chunk:
                self._known.setdefault(company, {})
        return {deal: self._known.get(company, {}) for deal, company in links.items()}
