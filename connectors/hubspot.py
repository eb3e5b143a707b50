"""The HubSpot adapter, over hubspot-api-client.

Reads:

- a full load lists every deal (100 a page, no cap) with their company associations
  inline, resuming from the list's ``after`` cursor;
- an incremental read searches ``hs_lastmodifieddate >= since`` ascending, 200 a page, and
  opens a new search window at the last timestamp seen before the 10,000-result cap,
  skipping the records of that timestamp it has already returned;
- archived deals come from the ``archived=true`` listing;
- each deal's primary company (name, domain) is fetched in batches: one v4 association
  batch read per search page and one company batch read per 100 companies not yet seen.

Hot read paths parse the raw JSON (``_preload_content=False``) instead of building the
client's models, which costs more than the HTTP itself. Writes use batch update, 100 inputs
a request; a 207 partial failure becomes one result per record.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
)
from urllib3.util import Retry

from connectors.base import (
    CrmRecord,
    DeletedRecord,
    FieldInfo,
    FieldKind,
    RecordCreate,
    RecordPage,
    RecordUpdate,
    RecordUpsert,
    Watermark,
    WriteResult,
)
from connectors.errors import (
    AuthExpired,
    ConfigurationError,
    Transient,
)
from connectors.hubspot_companies import Companies
from connectors.hubspot_wire import (
    BATCH_LIMIT,
    CRM,
    LIST_LIMIT,
    batch_results,
    created_results,
    epoch_ms,
    to_wire,
    translate,
    upserted_results,
)
from connectors.retry import CallGate, CountedCalls, RetryPolicy, call_with_retries, no_gate
from connectors.wire import parse_instant

__all__ = ["HubSpotConfig", "HubSpotConnector", "translate"]


SEARCH_LIMIT = 200
SEARCH_CAP = 10_000
COMPANY_PREFIX = "company."
MODIFIED = "hs_lastmodifieddate"
_KINDS = {
    "string": FieldKind.STRING,
    "number": FieldKind.NUMBER,
    "date": FieldKind.DATE,
    "datetime": FieldKind.DATETIME,
    "enumeration": FieldKind.PICKLIST,
    "bool": FieldKind.BOOLEAN,
}


@dataclass(frozen=True)
class HubSpotConfig:
    """How to reach one portal; a refresh token lets an expired access token be renewed."""

    base_url: str
    access_token: str
    object_type: str = "deals"
    client_id: str | None = None
    client_secret: str | None = None
    refresh_token: str | None = None
    lookback: timedelta = timedelta(seconds=10)
    timeout_seconds: float = 60.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Limits shared with other workers (burst, search rate), waited for before each call.
    gate: CallGate = field(default=no_gate, compare=False)


class _Apis:
    """A HubSpot client whose API objects (``crm.deals.basic_api``...) are built once.

    hubspot-api-client builds a new ``ApiClient`` (configuration, urllib3 pool, a
    package-metadata lookup) on every such attribute access, so each call would open a new
    connection; a full HubSpot mirror makes over a thousand calls. Building is idempotent,
    so two threads racing on a first access merely build one twice.
    """

    def __init__(self, target: Any) -> None:
        self._target = target
        self._built: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        built = self._built.get(name)
        if built is None:
            built = getattr(self._target, name)
            if not name.endswith("_api"):  # a discovery level (crm, deals, v4...): go on
                built = _Apis(built)
            self._built[name] = built
        return built


class HubSpotConnector(CountedCalls):
    """HubSpot deals behind the CRM port."""

    crm = CRM
    deletes_in_stream = False
    write_batch_size = BATCH_LIMIT

    def __init__(self, config: HubSpotConfig) -> None:
        self.config = config
        self.object_name = config.object_type
        self.endpoint = config.base_url
        self._token = config.access_token
        self._calls = 0
        self.endpoint_calls = Counter()
        self.retries = 0
        self.gate = config.gate
        self._client: HubSpot | None = None
        self._client_lock = threading.Lock()
        self._companies = Companies(self._raw)
        self._describe_cache: dict[str, dict[str, FieldInfo]] = {}

    @property
    def client(self) -> HubSpot:
        with self._client_lock:  # concurrent writers share one client
            if self._client is None:
                # No urllib3 retries: they would sleep on Retry-After beneath our own retries.
                client = HubSpot(
                    access_token=self._token, host=self.config.base_url, retry=Retry(total=False)
                )
                self._client = cast(HubSpot, _Apis(client))
            return self._client

    def _call(
        self, fn: Callable[[HubSpot], Any], kind: str = "call", endpoint: str = "other"
    ) -> Any:
        """One API call with retries; errors translated; an expired token refreshed once."""

        def attempt() -> Any:
            return self._retried(
                self.config.retry, lambda: fn(self.client), translate, kind, endpoint
            )

        try:
            return attempt()
        except AuthExpired as exc:
            self._refresh(exc)
            try:
                return attempt()
            except AuthExpired as again:
                raise ConfigurationError(
                    "HubSpot refused a freshly refreshed token", crm=CRM, code=again.code
                ) from again

    def _refresh(self, cause: AuthExpired) -> None:
        cfg = self.config
        if not (cfg.refresh_token and cfg.client_id and cfg.client_secret):
            raise ConfigurationError(
                "the HubSpot access token expired and no refresh token is configured",
                crm=CRM,
                code=cause.code,
            ) from cause

        def refresh() -> Any:
            self._calls += 1
            try:
                return self.client.oauth.tokens_api.create(
                    grant_type="refresh_token",
                    client_id=cfg.client_id,
                    client_secret=cfg.client_secret,
                    refresh_token=cfg.refresh_token,
                )
            except Exception as exc:
                raise translate(exc) from exc

        answer = call_with_retries(cfg.retry, refresh, self._note_retry)
        self._token = answer.access_token
        self._client = None

    def _raw(
        self, fn: Callable[[HubSpot], Any], kind: str = "call", endpoint: str = "other"
    ) -> dict[str, Any]:
        """Call with ``_preload_content=False`` and parse the JSON body ourselves."""
        response = self._call(fn, kind, endpoint)
        data = orjson.loads(response.data) if response.data else {}
        if not isinstance(data, dict):
            raise Transient("HubSpot answered with a malformed body", crm=CRM)
        return data

    def id_aliases(self, record_id: str) -> tuple[str, ...]:
        """HubSpot ids have one form."""
        return (record_id,)

    def user_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        """Nothing: a deal names its editor by user id only, and HubSpot's users API needs
        a scope (``settings.users.read``) a sync app is not given."""
        return {}

    # --- metadata ---------------------------------------------------------------------

    def describe(self, object_name: str | None = None) -> dict[str, FieldInfo]:
        """Every property of the object (or ``companies``), from the properties API."""
        name = object_name or self.object_name
        answer = self._call(
            lambda hs: hs.crm.properties.core_api.get_all(name), endpoint="properties"
        )
        fields: dict[str, FieldInfo] = {}
        for prop in answer.results or []:
            calculated = bool(getattr(prop, "calculated", False))
            read_only = bool(
                getattr(getattr(prop, "modification_metadata", None), "read_only_value", False)
            )
            options = [o.value for o in (prop.options or []) if not getattr(o, "hidden", False)]
            fields[prop.name] = FieldInfo(
                name=prop.name,
                kind=_KINDS.get(prop.type or "", FieldKind.OTHER),
                crm_type=prop.type or "",
                label=prop.label or "",
                updateable=not (calculated or read_only),
                picklist_values=tuple(options) if prop.type == "enumeration" else None,
                createable=not (calculated or read_only),
                upsert_key=bool(getattr(prop, "has_unique_value", False)),
            )
        return fields

    def describe_path(self, path: str) -> FieldInfo | None:
        """A deal property, or ``company.<property>`` of the deal's primary company."""
        if path.startswith(COMPANY_PREFIX):
            return self._described("companies").get(path[len(COMPANY_PREFIX) :])
        return self._described(self.object_name).get(path)

    def _described(self, object_name: str) -> dict[str, FieldInfo]:
        if object_name not in self._describe_cache:
            self._describe_cache[object_name] = self.describe(object_name)
        return self._describe_cache[object_name]

    # --- reads ------------------------------------------------------------------------

    def changed_since(
        self,
        watermark: Watermark | None,
        fields: Sequence[str],
        cursor: str | None = None,
    ) -> Iterator[RecordPage]:
        """A full listing (``watermark is None``) or a search from ``watermark - lookback``."""
        props = [f for f in fields if not f.startswith(COMPANY_PREFIX)]
        company_props = [f[len(COMPANY_PREFIX) :] for f in fields if f.startswith(COMPANY_PREFIX)]
        props = list(dict.fromkeys([*props, MODIFIED]))
        if watermark is None:
            yield from self._full(props, company_props, cursor)
        else:
            yield from self._search(watermark, props, company_props)

    def _full(
        self, props: list[str], company_props: list[str], cursor: str | None
    ) -> Iterator[RecordPage]:
        after, _, started = (cursor or "").partition("|")
        start = parse_instant(started) if started else datetime.now(UTC)
        if company_props:
            self._companies.prefetch(company_props)
        while True:

            def call(hs: HubSpot, after: Any = after) -> Any:
                return hs.crm.deals.basic_api.get_page(
                    limit=LIST_LIMIT,
                    after=after or None,
                    properties=props,
                    associations=["companies"] if company_props else None,
                    archived=False,
                    _preload_content=False,
                    _request_timeout=self.config.timeout_seconds,
                )

            page = self._raw(call, endpoint="deals/list")
            results = page.get("results") or []
            companies = self._companies.inline(results) if company_props else {}
            records = self._records(results, companies, company_props, start)
            after = ((page.get("paging") or {}).get("next") or {}).get("after") or ""
            done = not after
            yield RecordPage(
                records=records,
                watermark=Watermark(start - self.config.lookback) if done else None,
                cursor=None if done else f"{after}|{epoch_ms(start)}",
            )
            if done:
                return

    def _search(
        self, watermark: Watermark, props: list[str], company_props: list[str]
    ) -> Iterator[RecordPage]:
        since = watermark.modified_at - self.config.lookback
        seen_at_since: set[str] = set()
        after = 0
        while True:
            request = PublicObjectSearchRequest(
                filter_groups=[
                    FilterGroup(
                        filters=[Filter(property_name=MODIFIED, operator="GTE",
                                        value=epoch_ms(since))]
                    )
                ],
                sorts=[{"propertyName": MODIFIED, "direction": "ASCENDING"}],
                properties=props,
                limit=SEARCH_LIMIT,
                after=str(after) if after else None,
            )  # fmt: skip

            def call(hs: HubSpot, request: Any = request) -> Any:
                return hs.crm.deals.search_api.do_search(
                    request,
                    _preload_content=False,
                    _request_timeout=self.config.timeout_seconds,
                )

            page = self._raw(call, "search", "deals/search")
            results = [r for r in page.get("results") or [] if r.get("id") not in seen_at_since]
            companies = (
                self._companies.of_deals([r["id"] for r in results]) if company_props else {}
            )
            records = self._records(results, companies, company_props, since)
            last = records[-1] if records else None
            yield RecordPage(
                records=records,
                watermark=Watermark(last.modified_at, last.id) if last else None,
                total=page.get("total"),
            )
            next_after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not next_after:
                return
            after = int(next_after)
            if after + SEARCH_LIMIT > SEARCH_CAP:
                # A new window from the last timestamp seen; ties already returned are skipped.
                if last is None or last.modified_at <= since:
                    raise Transient(
                        f"more than {SEARCH_CAP} deals share one modification time; "
                        "run a full sync",
                        crm=CRM,
                    )
                since = last.modified_at
                seen_at_since = {r.id for r in records if r.modified_at == since}
                after = 0

    def read_ids(self, crm_ids: Sequence[str], fields: Sequence[str]) -> RecordPage:
        """The deals with these ids as they are now (batch reads of 100: never behind
        writes as the search index is); ids HubSpot no longer has are left out (the
        archived listing tells those). The page moves no watermark."""
        props = [f for f in fields if not f.startswith(COMPANY_PREFIX)]
        company_props = [f[len(COMPANY_PREFIX) :] for f in fields if f.startswith(COMPANY_PREFIX)]
        props = list(dict.fromkeys([*props, MODIFIED]))
        wanted = list(dict.fromkeys(crm_ids))
        results: list[dict[str, Any]] = []
        for start in range(0, len(wanted), BATCH_LIMIT):
            body = BatchReadInputSimplePublicObjectId(
                inputs=[{"id": crm_id} for crm_id in wanted[start : start + BATCH_LIMIT]],
                properties=props,
            )

            def call(hs: HubSpot, body: Any = body) -> Any:
                return hs.crm.deals.batch_api.read(
                    body,
                    archived=False,
                    _preload_content=False,
                    _request_timeout=self.config.timeout_seconds,
                )

            results.extend(self._raw(call, endpoint="deals/batch/read").get("results") or [])
        companies = self._companies.of_deals([r["id"] for r in results]) if company_props else {}
        # Oldest first, as a search returns them; a record without a time keeps now's.
        records = self._records(results, companies, company_props, datetime.now(UTC))
        ordered = tuple(sorted(records, key=lambda r: (r.modified_at, r.id)))
        return RecordPage(records=ordered, watermark=None)

    def _records(
        self,
        results: Iterable[Mapping[str, Any]],
        companies: Mapping[str, Mapping[str, Any]],
        company_props: Sequence[str],
        fallback: datetime,
    ) -> tuple[CrmRecord, ...]:
        out: list[CrmRecord] = []
        keyed = [(COMPANY_PREFIX + prop, prop) for prop in company_props]
        for raw in results:
            # The decoded page is ours: its properties dict becomes the record's values.
            values: dict[str, Any] = raw.get("properties") or {}
            company = companies.get(raw["id"]) or {}
            for key, prop in keyed:
                values[key] = company.get(prop)
            modified = values.get(MODIFIED) or raw.get("updatedAt")
            # A record without a modification time keeps the window's start, so the
            # watermark never moves past records not yet read.
            moment = parse_instant(str(modified)) if modified else fallback
            out.append(CrmRecord(id=str(raw["id"]), modified_at=moment, values=values))
        return tuple(out)

    def deleted_since(self, since: datetime) -> Iterator[DeletedRecord]:
        """Deals archived at or after ``since`` (the archived listing has no date filter)."""
        after: str | None = None
        while True:

            def call(hs: HubSpot, after: Any = after) -> Any:
                return hs.crm.deals.basic_api.get_page(
                    limit=LIST_LIMIT, after=after, archived=True, _preload_content=False
                )

            page = self._raw(call, endpoint="deals/archived")
            for raw in page.get("results") or []:
                when = raw.get("archivedAt") or raw.get("updatedAt")
                moment = parse_instant(when) if when else since
                if moment >= since:
                    yield DeletedRecord(str(raw["id"]), moment)
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return

    # --- writes -----------------------------------------------------------------------

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Batch update, 100 inputs a request; a 207 becomes per-record results."""
        results: list[WriteResult] = []
        for start in range(0, len(updates), BATCH_LIMIT):
            chunk = updates[start : start + BATCH_LIMIT]
            body = BatchInputSimplePublicObjectBatchInput(
                inputs=[
                    SimplePublicObjectBatchInput(
                        id=u.id, properties={k: to_wire(v) for k, v in u.values.items()}
                    )
                    for u in chunk
                ]
            )

            def call(hs: HubSpot, body: Any = body) -> Any:
                return hs.crm.deals.batch_api.update(
                    body, _preload_content=False, _request_timeout=self.config.timeout_seconds
                )

            page = self._raw(call, endpoint="deals/batch/update")
            results.extend(batch_results(chunk, page))
        return results

    def create(self, records: Sequence[RecordCreate]) -> list[WriteResult]:
        """Batch create, 100 inputs a request; results matched by ``objectWriteTraceId``."""
        results: list[WriteResult] = []
        for start in range(0, len(records), BATCH_LIMIT):
            chunk = records[start : start + BATCH_LIMIT]
            # A plain body: the client's model has no objectWriteTraceId, which HubSpot
            # echoes on each result, and results need not come back in input order.
            body = {
                "inputs": [
                    {
                        "properties": {k: to_wire(v) for k, v in r.values.items()},
                        "associations": [],
                        "objectWriteTraceId": str(index),
                    }
                    for index, r in enumerate(chunk)
                ]
            }

            def call(hs: HubSpot, body: Any = body) -> Any:
                return hs.crm.deals.batch_api.create(
                    body, _preload_content=False, _request_timeout=self.config.timeout_seconds
                )

            results.extend(
                created_results(len(chunk), self._raw(call, endpoint="deals/batch/create"))
            )
        return results

    def upsert(self, records: Sequence[RecordUpsert], key_field: str) -> list[WriteResult]:
        """Batch upsert keyed on unique property ``key_field`` (``idProperty``), 100 inputs
        a request; results matched by ``objectWriteTraceId``, refusals by key."""
        results: list[WriteResult] = []
        for start in range(0, len(records), BATCH_LIMIT):
            chunk = records[start : start + BATCH_LIMIT]
            body = {
                "inputs": [
                    {
                        "idProperty": key_field,
                        "id": r.key,
                        "properties": {k: to_wire(v) for k, v in r.values.items()},
                        "objectWriteTraceId": str(index),
                    }
                    for index, r in enumerate(chunk)
                ]
            }

            def call(hs: HubSpot, body: Any = body) -> Any:
                return hs.crm.deals.batch_api.upsert(
                    body, _preload_content=False, _request_timeout=self.config.timeout_seconds
                )

            answer = self._raw(call, endpoint="deals/batch/upsert")
            results.extend(upserted_results([r.key for r in chunk], answer))
        return results
