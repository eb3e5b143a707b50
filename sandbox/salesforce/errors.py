"""Errors the sandbox org raises, worded and coded as Salesforce words and codes them.

:class:`RecordError` carries a Salesforce ``errorCode`` / ``statusCode``, a message and the
fields concerned. A single-record endpoint turns it into an HTTP error (status from
:data:`STATUS`, 400 otherwise; :class:`AmbiguousKey` is a 300 listing the candidates);
sObject Collections report it per record inside a 200.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

__all__ = [
    "STATUS",
    "AmbiguousKey",
    "RecordError",
    "entity_is_deleted",
    "invalid_field",
    "malformed_id",
    "not_found",
    "unable_to_lock_row",
]

#: HTTP status of a single-record call failing with this code (400 when not listed).
STATUS: MappingProxyType[str, int] = MappingProxyType(
    {
        "NOT_FOUND": 404,
        "ENTITY_IS_DELETED": 404,
    }
)


class RecordError(Exception):
    """A request or record Salesforce would refuse: ``code``, ``message``, ``fields``."""

    def __init__(self, code: str, message: str, fields: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    @property
    def status(self) -> int:
        """The HTTP status a single-record endpoint answers with."""
        return STATUS.get(self.code, 400)

    def as_result_error(self) -> dict[str, Any]:
        """The per-record error object of sObject Collections."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


class AmbiguousKey(RecordError):
    """An external id held by more than one record: 300 with their URLs, per record
    ``DUPLICATE_EXTERNAL_ID`` in collections."""

    def __init__(self, field: str, ids: Iterable[str]) -> None:
        self.ids = list(ids)
        super().__init__(
            "DUPLICATE_EXTERNAL_ID",
            f"{field}: more than one record found for external id field: [{', '.join(self.ids)}]",
            [field],
        )


def not_found() -> RecordError:
    """The NOT_FOUND every unknown resource answers."""
    return RecordError("NOT_FOUND", "The requested resource does not exist")


def malformed_id(what: str, raw: str, fields: Iterable[str] = ()) -> RecordError:
    """An id of the wrong shape, or of another object's key prefix (``what``: e.g.
    ``Opportunity ID`` or a reference field's label)."""
    return RecordError("MALFORMED_ID", f"{what}: id value of incorrect type: {raw}", fields)


def entity_is_deleted() -> RecordError:
    """A write to a record in the recycle bin."""
    return RecordError("ENTITY_IS_DELETED", "entity is deleted")


def invalid_field(name: str, sobject: str) -> RecordError:
    """A field the object does not have."""
    return RecordError(
        "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}", [name]
    )


def unable_to_lock_row(record_id: str) -> RecordError:
    """The injected row-lock contention (``lock`` fault)."""
    return RecordError(
        "UNABLE_TO_LOCK_ROW",
        f"unable to obtain exclusive access to this record or 1 records: {record_id}",
    )
