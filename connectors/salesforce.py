"""The Salesforce adapter, over simple-salesforce.

Reads: one ``queryAll`` ordered by ``SystemModstamp, Id`` from the watermark (minus the
lookback), paged by the query cursor (2,000 rows a page), with ``IsDeleted`` selected so
deletes arrive in the same stream as changes: a sync that finds nothing costs one call.
Relationship paths (``Account.Name``) are selected as written and flattened back.

Writes: sObject Collections ``PATCH composite/sobjects`` with ``allOrNone=false``, 200
records a request, one :class:`WriteResult` per record in input order.

Authentication: a session id, username + password (+ security token), OAuth client
credentials or the JWT bearer flow. simple-salesforce renews password and OAuth sessions
itself on ``INVALID_SESSION_ID``; an expired static session id is a configuration error.
An ``http://`` instance URL (the sandbox) is reached through a transport adapter.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.format import format_soql

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
)
from connectors.retry import CallGate, CountedCalls, RetryPolicy, call_with_retries, no_gate
from connectors.salesforce_wire import (
    COLLECTION_LIMIT,
    CRM,
    KINDS,
    collection_results,
    flattener,
    id_aliases,
    is_id,
    lookup,
    translate,
)
from connectors.transport import session_for
from connectors.wire import dumps_exact, parse_instant

__all__ = ["SalesforceConfig", "SalesforceConnector"]


@dataclass(frozen=True)
class SalesforceConfig:
    """How to reach and authenticate to one org (secrets are plain strings here)."""

    instance_url: str
    api_version: str = "59.0"
    auth: str = "session"
    session_id: str | None = None
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key_file: str | None = None
    domain: str = "login"
    object_name: str = "Opportunity"
    lookback: timedelta = timedelta(seconds=10)
    page_size: int = 2000
    timeout_seconds: float = 120.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: Limits shared with other workers (concurrent requests), waited for before each call.
    gate: CallGate = field(default=no_gate, compare=False)


class _Client(Salesforce):
    """simple-salesforce whose JSON responses are decoded by orjson into plain dicts:
    a 2,000-record query page decodes several times faster than through ``json`` with
    the stock ``OrderedDict`` hook, and the mirror is read-bound."""

    def parse_result_to_json(self, result: requests.Response) -> Any:
        return orjson.loads(result.content)


class SalesforceConnector(CountedCalls):
    """One Salesforce object behind the CRM port."""

    crm = CRM
    deletes_in_stream = True
    write_batch_size = COLLECTION_LIMIT

    def __init__(self, config: SalesforceConfig) -> None:
        self.config = config
        self.object_name = config.object_name
        self.endpoint = config.instance_url
        self._calls = 0
        self.endpoint_calls = Counter()
        self.retries = 0
        self.gate = config.gate
        self._client: Salesforce | None = None
        self._login_lock = threading.Lock()
        self._describe_cache: dict[str, dict[str, FieldInfo]] = {}

    # --- plumbing ---------------------------------------------------------------------

    def _login(self) -> Salesforce:
        cfg = self.config
        session, instance_url = session_for(cfg.instance_url, login_domain=cfg.domain)
        common: dict[str, Any] = {"version": cfg.api_version, "session": session}
        try:
            if cfg.auth == "session":
                return _Client(instance_url=instance_url, session_id=cfg.session_id, **common)
            self._calls += 1
            if cfg.auth == "password":
                return _Client(
                    username=cfg.username,
                    password=cfg.password,
                    security_token=cfg.security_token or "",
                    domain=cfg.domain,
                    **common,
                )
            if cfg.auth == "client_credentials":
                return _Client(
                    consumer_key=cfg.consumer_key,
                    consumer_secret=cfg.consumer_secret,
                    domain=cfg.domain,
                    **common,
                )
            if cfg.auth == "jwt":
                return _Client(
                    username=cfg.username,
                    consumer_key=cfg.consumer_key,
                    privatekey_file=cfg.private_key_file,
                    domain=cfg.domain,
                    **common,
                )
        except Exception as exc:
            raise translate(exc) from exc
        raise ConfigurationError(f"unknown auth {cfg.auth!r}", crm=CRM)

    @property
    def client(self) -> Salesforce:
        with self._login_lock:  # concurrent writers share one login
            if self._client is None:
                self._client = call_with_retries(self.config.retry, self._login, self._note_retry)
            return self._client

    def quota(self) -> tuple[int, int] | None:
        """(API calls used, daily allocation) as the org's last answer to this connector
        said (``Sforce-Limit-Info``); None before any call."""
        usage = getattr(self._client, "api_usage", None) or {}
        found = usage.get("api-usage")
        if found is None:
            return None
        return int(found.used), int(found.total)

    def refresh_quota(self) -> tuple[int, int] | None:
        """Ask the org now (``GET limits/``, one call): (used, daily allocation)."""
        answer = self._call(lambda sf: sf.restful("limits/"), "limits")
        daily = answer.get("DailyApiRequests") if isinstance(answer, dict) else None
        try:
            allocation = int((daily or {})["Max"])  # old orgs send strings
            remaining = int((daily or {})["Remaining"])
        except (KeyError, TypeError, ValueError):
            return self.quota()
        return allocation - remaining, allocation

    def _call(self, fn: Callable[[Salesforce], Any], endpoint: str = "other") -> Any:
        """One API call with retries; errors translated; an expired session renewed once."""

        def attempt() -> Any:
            return self._retried(
                self.config.retry, lambda: fn(self.client), translate, endpoint=endpoint
            )

        try:
            return attempt()
        except AuthExpired as exc:
            if self.config.auth == "session":
                raise ConfigurationError(
                    "the Salesforce session id expired; configure auth = password, "
                    "client_credentials or jwt for unattended runs",
                    crm=CRM,
                    code=exc.code,
                ) from exc
            self._client = None  # log in afresh, once
            try:
                return attempt()
            except AuthExpired as again:
                raise ConfigurationError(
                    "Salesforce refused a fresh login's session", crm=CRM, code=again.code
                ) from again

    # --- ids --------------------------------------------------------------------------

    def id_aliases(self, record_id: str) -> tuple[str, ...]:
        """A Salesforce id in both its forms (15 and 18 characters), its own form first."""
        return id_aliases(record_id)

    def user_names(self, user_ids: Sequence[str]) -> dict[str, str]:
        """Names of the ``User`` records with these ids (one query, 15- or 18-character
        ids alike); malformed ids are left out without a call."""
        wanted = [i for i in dict.fromkeys(user_ids) if is_id(i)][:200]
        if not wanted:
            return {}
        soql = format_soql("SELECT Id, Name FROM User WHERE Id IN {}", wanted)
        result = self._call(lambda sf: sf.query(soql, timeout=self.config.timeout_seconds), "query")
        names: dict[str, str] = {}
        for raw in result.get("records", []):
            for alias in self.id_aliases(str(raw.get("Id"))):
                names[alias] = str(raw.get("Name"))
        return {i: names[i] for i in wanted if i in names}

    # --- metadata ---------------------------------------------------------------------

    def describe(self, object_name: str | None = None) -> dict[str, FieldInfo]:
        """Every field of the object (or another), from ``sobjects/<Object>/describe``."""
        name = object_name or self.object_name
        result = self._call(lambda sf: getattr(sf, name).describe(), "describe")
        fields: dict[str, FieldInfo] = {}
        for raw in result.get("fields", []):
            picklist = raw.get("picklistValues") or None
            fields[raw["name"]] = FieldInfo(
                name=raw["name"],
                kind=KINDS.get(raw.get("type", ""), FieldKind.OTHER),
                crm_type=raw.get("type", ""),
                label=raw.get("label", ""),
                updateable=bool(raw.get("updateable")),
                nillable=bool(raw.get("nillable", True)),
                picklist_values=(
                    tuple(p["value"] for p in picklist if p.get("active", True))
                    if picklist
                    else None
                ),
                length=raw.get("length"),
                relationship_name=raw.get("relationshipName"),
                reference_to=(raw.get("referenceTo") or [None])[0],
                createable=bool(raw.get("createable")),
                upsert_key=bool(raw.get("externalId")),
                required_on_create=bool(raw.get("createable"))
                and not raw.get("nillable", True)
                and not raw.get("defaultedOnCreate"),
            )
        return fields

    def describe_path(self, path: str) -> FieldInfo | None:
        """A field of the object, or ``Relationship.Field`` through a reference field."""
        fields = self._described(self.object_name)
        head, _, tail = path.partition(".")
        if not tail:
            return lookup(fields, head)
        for info in fields.values():
            if info.relationship_name and info.relationship_name.casefold() == head.casefold():
                if info.reference_to is None:
                    return None
                return lookup(self._described(info.reference_to), tail)
        return None

    def _described(self, object_name: str) -> dict[str, FieldInfo]:
        if object_name not in self._describe_cache:
            self._describe_cache[object_name] = self.describe(object_name)
        return self._describe_cache[object_name]

    # --- reads ------------------------------------------------------------------------

    def _soql(self, watermark: Watermark | None, fields: Sequence[str]) -> str:
        select = list(dict.fromkeys(["Id", "SystemModstamp", "IsDeleted", *fields]))
        if watermark is None:
            return format_soql(
                "SELECT {:literal} FROM {:literal} ORDER BY SystemModstamp, Id",
                ", ".join(select),
                self.object_name,
            )
        since = watermark.modified_at - self.config.lookback
        return format_soql(
            "SELECT {:literal} FROM {:literal} WHERE SystemModstamp >= {} "
            "ORDER BY SystemModstamp, Id",
            ", ".join(select),
            self.object_name,
            since,
        )

    def changed_since(
        self, watermark: Watermark | None, fields: Sequence[str], cursor: str | None = None
    ) -> Iterator[RecordPage]:
        """Changed and deleted records from ``watermark`` (minus the lookback), page by page.

        Deleted records come flagged ``deleted`` (``IsDeleted``). A full read is ordered
        like an incremental one, so each page's watermark resumes it: ``cursor`` is unused.
        """
        soql = self._soql(watermark, fields)
        flatten = flattener(fields)
        headers = {"Sforce-Query-Options": f"batchSize={self.config.page_size}"}
        timeout = self.config.timeout_seconds
        page = self._call(
            lambda sf: sf.query(soql, include_deleted=True, headers=headers, timeout=timeout),
            "query",
        )
        while True:
            records = tuple(
                CrmRecord(
                    id=raw["Id"],
                    modified_at=parse_instant(raw["SystemModstamp"]),
                    values=flatten(raw),
                    deleted=raw.get("IsDeleted") is True,
                )
                for raw in page.get("records", [])
            )
            last = records[-1] if records else None
            yield RecordPage(
                records=records,
                watermark=Watermark(last.modified_at, last.id) if last else watermark,
                total=page.get("totalSize"),
            )
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return

            def call(sf: Salesforce, url: Any = next_url) -> Any:
                return sf.query_more(
                    url,
                    identifier_is_url=True,
                    include_deleted=True,
                    headers=headers,
                    timeout=timeout,
                )

            page = self._call(call, "query")

    def deleted_since(self, since: datetime) -> Iterator[DeletedRecord]:
        """Deleted records from ``since`` (``deleted/``; the recycle bin keeps 15 days)."""
        end = datetime.now(UTC)
        result = self._call(
            lambda sf: getattr(sf, self.object_name).deleted(since.astimezone(UTC), end),
            "deleted",
        )
        for item in result.get("deletedRecords", []):
            yield DeletedRecord(item["id"], parse_instant(item["deletedDate"]))

    # --- writes -----------------------------------------------------------------------

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """sObject Collections updates, 200 a request, ``allOrNone=false``."""
        return self._collections(
            "PATCH", [{"id": u.id, **u.values} for u in updates], [u.id for u in updates]
        )

    def create(self, records: Sequence[RecordCreate]) -> list[WriteResult]:
        """sObject Collections creates, 200 a request, ``allOrNone=false``."""
        return self._collections("POST", [dict(r.values) for r in records], None)

    def upsert(self, records: Sequence[RecordUpsert], key_field: str) -> list[WriteResult]:
        """sObject Collections upserts on external-id field ``key_field``, 200 a request,
        ``allOrNone=false``; results say ``created`` (False: the key matched a record)."""
        return self._collections(
            "PATCH",
            [{**r.values, key_field: r.key} for r in records],
            None,
            path=f"composite/sobjects/{self.object_name}/{key_field}",
        )

    def _collections(
        self,
        method: str,
        records: Sequence[Mapping[str, Any]],
        ids: Sequence[str] | None,
        *,
        path: str = "composite/sobjects",
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            body = dumps_exact(
                {
                    "allOrNone": False,
                    "records": [{"attributes": {"type": self.object_name}, **r} for r in chunk],
                }
            )

            def call(sf: Salesforce, body: Any = body) -> Any:
                return sf.restful(
                    path,
                    method=method,
                    data=body,
                    timeout=self.config.timeout_seconds,
                )

            answer = self._call(call, f"composite/sobjects {method}")
            chunk_ids = ids[start : start + COLLECTION_LIMIT] if ids is not None else None
            results.extend(collection_results(len(chunk), chunk_ids, answer))
        return results
