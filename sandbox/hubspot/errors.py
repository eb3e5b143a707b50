"""HubSpot errors raised by the portal and answered by the routes in HubSpot's error shape.

Every failure of a portal operation is a :class:`PortalError`: its status and body are what
the real API would answer, so the routes only serialise it and the Python API (seeder,
tests) sees the same categories and messages as a client would.

Bodies follow the CRM v3 error object: ``{"status": "error", "message", "correlationId",
"category"[, "subCategory", "context", "errors", "links"]}``. Invalid property values use
HubSpot's own message, ``Property values were not valid: [...]``, whose embedded JSON list
names each property and its error code (``PROPERTY_DOESNT_EXIST``, ``READ_ONLY_VALUE``,
``INVALID_OPTION``, ``INVALID_INTEGER``, ``INVALID_DATE``, ...).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = [
    "PortalError",
    "PropertyIssue",
    "bad_request",
    "conflict",
    "invalid_properties",
    "invalid_record",
    "not_found",
    "object_missing",
    "objects_not_found",
    "standard_error",
]


@dataclass(frozen=True)
class PropertyIssue:
    """One invalid property value of a write: the property, HubSpot's error code, why."""

    name: str
    code: str
    message: str

    def as_json(self) -> dict[str, Any]:
        """The entry HubSpot embeds in ``Property values were not valid: [...]``."""
        return {
            "isValid": False,
            "message": self.message,
            "error": self.code,
            "name": self.name,
            "localizedErrorMessage": self.message,
        }


class PortalError(Exception):
    """A refused portal operation: the HTTP status and the HubSpot error body to answer."""

    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(f"{status} {category}: {message}")
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON error object, with a fresh ``correlationId``."""
        body: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": str(uuid.uuid4()),
            "category": self.category,
        }
        body.update(self.extra)
        return body


def bad_request(message: str, **extra: Any) -> PortalError:
    """400 ``VALIDATION_ERROR``: a malformed request, or a limit of the API exceeded."""
    return PortalError(400, "VALIDATION_ERROR", message, **extra)


def conflict(message: str, **extra: Any) -> PortalError:
    """409 ``CONFLICT``: a duplicate unique value or property name."""
    return PortalError(409, "CONFLICT", message, **extra)


def not_found(message: str, **extra: Any) -> PortalError:
    """404 ``OBJECT_NOT_FOUND``."""
    return PortalError(404, "OBJECT_NOT_FOUND", message, **extra)


def object_missing(object_id: str) -> PortalError:
    """404 for an id that names no (live) record, in HubSpot's wording."""
    return not_found(
        f"Object not found.  objectId are usually numeric.: {object_id}",
        context={"id": [object_id]},
    )


def _issues_message(issues: Sequence[PropertyIssue]) -> str:
    payload = orjson.dumps([issue.as_json() for issue in issues]).decode()
    return f"Property values were not valid: {payload}"


def invalid_properties(issues: Sequence[PropertyIssue]) -> PortalError:
    """400 ``VALIDATION_ERROR`` for invalid property values, worded like HubSpot."""
    return PortalError(
        400,
        "VALIDATION_ERROR",
        _issues_message(issues),
        errors=[
            {
                "message": issue.message,
                "code": issue.code,
                "context": {"propertyName": [issue.name]},
            }
            for issue in issues
        ],
    )


def standard_error(
    category: str, message: str, context: dict[str, list[str]], **extra: Any
) -> dict[str, Any]:
    """One entry of a 207 batch response's ``errors`` (the client's ``StandardError``)."""
    error: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }
    error.update(extra)
    return error


def objects_not_found(singular: str, ids: Iterable[str]) -> dict[str, Any]:
    """The batch error for ids that name no (live) object, with the ids in its context."""
    return standard_error(
        "OBJECT_NOT_FOUND",
        f"Could not get some {singular.upper()} objects, they may be deleted or not exist. "
        "Check that ids are valid.",
        {"ids": list(ids)},
    )


def invalid_record(record_id: str | None, issues: Sequence[PropertyIssue]) -> dict[str, Any]:
    """The batch error for one input whose property values were refused."""
    context: dict[str, list[str]] = {"propertyName": [issue.name for issue in issues]}
    if record_id is not None:
        context["ids"] = [record_id]
    return standard_error(
        "VALIDATION_ERROR",
        _issues_message(issues),
        context,
        errors=[{"message": i.message, "code": i.code} for i in issues],
    )
