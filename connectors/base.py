"""The CRM port: what every adapter offers the rest of partnersync.

The application sees CRM records as plain values keyed by CRM field name (relationship
paths such as ``Account.Name`` included), in pages ordered by (modified time, id), and
writes as per-record results. SOQL, HubSpot filter JSON, batch sizes and error codes stay
inside the adapters.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "CrmConnector",
    "CrmRecord",
    "DeletedRecord",
    "FieldInfo",
    "FieldKind",
    "ReadsById",
    "RecordCreate",
    "RecordPage",
    "RecordUpdate",
    "RecordUpsert",
    "Watermark",
    "WriteOutcome",
    "WriteResult",
]


class FieldKind(StrEnum):
    """CRM field types, reduced to what the mapping needs to know."""

    STRING = "string"
    TEXT = "text"
    PICKLIST = "picklist"
    REFERENCE = "reference"
    ID = "id"
    NUMBER = "number"
    CURRENCY = "currency"
    PERCENT = "percent"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    OTHER = "other"


@dataclass(frozen=True)
class FieldInfo:
    """One CRM field as its metadata API describes it."""

    name: str
    kind: FieldKind
    crm_type: str
    label: str = ""
    updateable: bool = False
    nillable: bool = True
    picklist_values: tuple[str, ...] | None = None
    length: int | None = None
    #: For a reference field: the relationship name used in paths, and the object it targets.
    relationship_name: str | None = None
    reference_to: str | None = None
    #: Whether a create may set it.
    createable: bool = False
    #: Whether an upsert may be keyed on it (Salesforce ``externalId``, HubSpot
    #: ``hasUniqueValue``).
    upsert_key: bool = False
    #: Whether a create must give it (no default, not nillable).
    required_on_create: bool = False


@dataclass(frozen=True, order=True)
class Watermark:
    """Where an incremental read resumes: the last (modified time, id) seen, inclusive."""

    modified_at: datetime
    record_id: str = ""


@dataclass(frozen=True)
class CrmRecord:
    """A record as read: its id, modified time and raw values by CRM field (paths included).

    ``deleted``: the record was deleted in the CRM (and arrived with the changes, as
    Salesforce's ``queryAll`` brings them); its values are whatever the CRM still shows.
    """

    id: str
    modified_at: datetime
    values: Mapping[str, Any]
    deleted: bool = False


@dataclass(frozen=True)
class RecordPage:
    """One page of changed records.

    Store the page, then ``watermark`` (where the next incremental read resumes; ``None``:
    keep the stored one) and ``cursor`` (where an interrupted full read resumes; ``None``:
    the full read is complete) in the same transaction.
    """

    records: tuple[CrmRecord, ...]
    watermark: Watermark | None
    cursor: str | None = None
    #: How many records the whole read will bring, when the CRM says (Salesforce's
    #: ``totalSize``, HubSpot search's ``total``); None when it does not.
    total: int | None = None


@dataclass(frozen=True)
class DeletedRecord:
    """A record deleted (Salesforce) or archived (HubSpot) in the CRM."""

    id: str
    deleted_at: datetime


@dataclass(frozen=True)
class RecordUpdate:
    """Field values to write to one record, keyed by CRM field name, already on the wire."""

    id: str
    values: Mapping[str, Any]


@dataclass(frozen=True)
class RecordCreate:
    """Field values of one new record, keyed by CRM field name."""

    values: Mapping[str, Any]


@dataclass(frozen=True)
class RecordUpsert:
    """One record to create, or to update if the CRM holds one with the same ``key`` in
    the upsert's external-id field (``values`` need not repeat the key)."""

    key: str
    values: Mapping[str, Any]


class WriteOutcome(StrEnum):
    """What happened to one record of a batched write."""

    OK = "ok"
    RETRY = "retry"  # transient: lock, rate limit, 5xx — try again later
    REJECTED = "rejected"  # the CRM refused it: validation, deleted, not writable


@dataclass(frozen=True)
class WriteResult:
    """The result of writing one record (for a create or an upsert: the record's id,
    ``""`` if none). ``created``: an upsert made a new record (False: it found one)."""

    id: str
    outcome: WriteOutcome
    code: str | None = None
    message: str | None = None
    fields: tuple[str, ...] = field(default=())
    created: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is WriteOutcome.OK


@runtime_checkable
class ReadsById(Protocol):
    """A connector that can read records by id as they are now, where its incremental
    read may lag (HubSpot's search index): a webhook's ids are read at once."""

    def read_ids(self, crm_ids: Sequence[str], fields: Sequence[str]) -> RecordPage:
        """The records with these ids that exist, in one page without a watermark."""
        ...


@runtime_checkable
class CrmConnector(Protocol):
    """One CRM object (Salesforce ``Opportunity``, HubSpot ``deals``) behind one port."""

    crm: str
    object_name: str
    #: Where the connector talks to (the instance or API base URL), e.g. in messages.
    endpoint: str
    #: True when deleted records arrive through ``changed_since`` (``CrmRecord.deleted``);
    #: False when they must be read with ``deleted_since``.
    deletes_in_stream: bool
    #: The most records one write request takes (200 sObject Collections, 100 HubSpot).
    write_batch_size: int

    def id_aliases(self, record_id: str) -> tuple[str, ...]:
        """Every form in which the CRM writes ``record_id`` (Salesforce: the 15- and the
        18-character id), ``record_id`` first; a value that is no id comes back alone."""
        ...

    def user_names(self, user_ids: Sequence[str]) -> Mapping[str, str]:
        """The names of the CRM users with these ids, where the CRM tells them (one call
        at most; ids it does not know are left out)."""
        ...

    def describe(self, object_name: str | None = None) -> Mapping[str, FieldInfo]:
        """Every field of the object (or of a related object), by CRM field name."""
        ...

    def describe_path(self, path: str) -> FieldInfo | None:
        """The field a mapping path names (``Account.Name``, ``company.domain``), or None."""
        ...

    def changed_since(
        self, watermark: Watermark | None, fields: Sequence[str], cursor: str | None = None
    ) -> Iterator[RecordPage]:
        """Pages of records modified at or after ``watermark`` (all when ``None``).

        ``cursor`` resumes an interrupted full read where its last stored page ended.
        """
        ...

    def deleted_since(self, since: datetime) -> Iterator[DeletedRecord]:
        """Records deleted or archived at or after ``since``."""
        ...

    def update(self, updates: Sequence[RecordUpdate]) -> list[WriteResult]:
        """Write in batches of the API maximum; one result per update, in input order."""
        ...

    def create(self, records: Sequence[RecordCreate]) -> list[WriteResult]:
        """Create in batches of the API maximum; one result per record, in input order."""
        ...

    def upsert(self, records: Sequence[RecordUpsert], key_field: str) -> list[WriteResult]:
        """Create each record, or update the one whose ``key_field`` holds its key, in
        batches of the API maximum; one result per record, in input order. Sending the
        same records twice leaves one record per key."""
        ...

    @property
    def calls(self) -> int:
        """API calls made so far by this connector."""
        ...
