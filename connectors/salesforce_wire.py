"""Salesforce's wire format: its errors as ours, its records flattened, its ids in both
forms, the per-record results of sObject Collections. No calls are made here."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from connectors.base import FieldInfo, FieldKind, WriteOutcome, WriteResult
from connectors.errors import (
    AuthExpired,
    ConfigurationError,
    CrmError,
    QuotaExhausted,
    Transient,
)

__all__ = [
    "COLLECTION_LIMIT",
    "CRM",
    "KINDS",
    "RETRYABLE_RECORD_CODES",
    "case_safe_id",
    "collection_results",
    "flattener",
    "id_aliases",
    "is_id",
    "lookup",
    "translate",
]

CRM = "salesforce"
COLLECTION_LIMIT = 200
#: Per-record error codes worth another try later (the rest are rejections).
RETRYABLE_RECORD_CODES = frozenset(
    {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"}
)
KINDS = {
    "id": FieldKind.ID,
    "string": FieldKind.STRING,
    "textarea": FieldKind.TEXT,
    "email": FieldKind.STRING,
    "url": FieldKind.STRING,
    "phone": FieldKind.STRING,
    "picklist": FieldKind.PICKLIST,
    "multipicklist": FieldKind.PICKLIST,
    "reference": FieldKind.REFERENCE,
    "currency": FieldKind.CURRENCY,
    "double": FieldKind.NUMBER,
    "percent": FieldKind.PERCENT,
    "int": FieldKind.INTEGER,
    "boolean": FieldKind.BOOLEAN,
    "date": FieldKind.DATE,
    "datetime": FieldKind.DATETIME,
}


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"Account": {"Name": "x"}}`` -> ``{"Account.Name": "x"}`` (``attributes`` dropped)."""
    flat = {f"{prefix}{key}": value for key, value in record.items()} if prefix else dict(record)
    flat.pop(f"{prefix}attributes", None)
    # dict, not Mapping: decoded JSON is always a dict, and the ABC check is slow.
    related = [k for k, v in flat.items() if isinstance(v, dict) and "attributes" in v]
    for key in related:
        flat.update(_flatten(flat.pop(key), f"{key}."))
    return flat


def flattener(fields: Sequence[str]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """:func:`_flatten` for records selecting ``fields``, working in place on the decoded
    dict: only the relationships the fields name are looked at (a page has 2,000 records)."""
    relations = tuple(dict.fromkeys(name.split(".", 1)[0] for name in fields if "." in name))

    def flatten(record: dict[str, Any]) -> dict[str, Any]:
        record.pop("attributes", None)
        for relation in relations:
            related = record.get(relation)
            if type(related) is dict:
                del record[relation]
                record.update(_flatten(related, f"{relation}."))
        return record

    return flatten


_ID = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-5]{3})?")


def is_id(value: str) -> bool:
    """Whether ``value`` has the shape of a Salesforce id (15 or 18 characters)."""
    return _ID.fullmatch(value) is not None


def id_aliases(record_id: str) -> tuple[str, ...]:
    """A Salesforce id in both its forms: the 15-character (case-sensitive) and the
    18-character (case-safe) one, ``record_id``'s own form first; else it alone."""
    if not is_id(record_id):
        return (record_id,)
    if len(record_id) == 15:
        return (record_id, case_safe_id(record_id))
    short = record_id[:15]
    return (record_id, short) if case_safe_id(short) == record_id else (record_id,)


_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_id(short: str) -> str:
    """The 18-character id of a 15-character one: three characters, each encoding which
    of five id characters are upper-case letters."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, c in enumerate(short[start : start + 5]) if "A" <= c <= "Z")
        suffix += _SUFFIX[bits]
    return short + suffix


def lookup(fields: Mapping[str, FieldInfo], name: str) -> FieldInfo | None:
    """Salesforce field names are case-insensitive."""
    found = fields.get(name)
    if found is None:
        folded = name.casefold()
        found = next((f for key, f in fields.items() if key.casefold() == folded), None)
    return found


def _error_code(exc: SalesforceError) -> tuple[str | None, str]:
    content = getattr(exc, "content", None)
    if isinstance(content, list) and content and isinstance(content[0], Mapping):
        first = content[0]
        return first.get("errorCode"), str(first.get("message", ""))
    return None, str(content or exc)


def translate(exc: Exception) -> CrmError:
    """A simple-salesforce / requests exception as our own error, split by action."""
    if isinstance(exc, CrmError):
        return exc
    if isinstance(exc, requests.RequestException):
        return Transient(f"cannot reach Salesforce: {type(exc).__name__}", crm=CRM)
    if isinstance(exc, SalesforceAuthenticationFailed):
        return ConfigurationError(
            f"login failed: {exc.message}", crm=CRM, code=str(exc.code) if exc.code else None
        )
    if not isinstance(exc, SalesforceError):
        return CrmError(f"unexpected {type(exc).__name__}: {exc}", crm=CRM)
    code, message = _error_code(exc)
    if isinstance(exc, SalesforceExpiredSession):
        return AuthExpired(message or "session expired or invalid", crm=CRM, code=code)
    if isinstance(exc, SalesforceRefusedRequest):
        if code == "REQUEST_LIMIT_EXCEEDED" and "concurrentrequests" in message.casefold():
            # Too many long-running requests in flight: gone once some of them finish.
            return Transient(message, crm=CRM, code=code)
        if code == "REQUEST_LIMIT_EXCEEDED":
            return QuotaExhausted(message, crm=CRM, code=code, retry_after=3600.0)
        return ConfigurationError(message or "request refused", crm=CRM, code=code)
    if code in RETRYABLE_RECORD_CODES or code == "INVALID_QUERY_LOCATOR":
        return Transient(message, crm=CRM, code=code)
    if isinstance(exc, SalesforceMalformedRequest | SalesforceResourceNotFound):
        return ConfigurationError(message, crm=CRM, code=code)
    if isinstance(exc, SalesforceMoreThanOneRecord):
        return ConfigurationError("more than one record matched", crm=CRM, code=code)
    if isinstance(exc, SalesforceGeneralError) and exc.status >= 500:
        return Transient(f"HTTP {exc.status}: {message}", crm=CRM, code=code)
    return CrmError(f"HTTP {getattr(exc, 'status', '?')}: {message}", crm=CRM, code=code)


def collection_results(count: int, ids: Sequence[str] | None, answer: Any) -> list[WriteResult]:
    """Per-record results in input order (Collections answers in input order)."""
    if not isinstance(answer, list) or len(answer) != count:
        raise Transient("sObject Collections answered with a malformed result", crm=CRM)
    out: list[WriteResult] = []
    for index, item in enumerate(answer):
        record_id = ids[index] if ids is not None else str(item.get("id") or "")
        if item.get("success"):
            out.append(WriteResult(record_id, WriteOutcome.OK, created=bool(item.get("created"))))
            continue
        errors = item.get("errors") or [{}]
        code = errors[0].get("statusCode")
        outcome = WriteOutcome.RETRY if code in RETRYABLE_RECORD_CODES else WriteOutcome.REJECTED
        out.append(
            WriteResult(
                record_id,
                outcome,
                code=code,
                message=errors[0].get("message"),
                fields=tuple(errors[0].get("fields") or ()),
            )
        )
    return out
