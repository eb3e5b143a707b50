"""HubSpot's wire format: its errors as ours, our values as property strings, and the
per-record results of batch writes (200 / 201 / 207). No calls are made here."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
from urllib3.exceptions import HTTPError as Urllib3Error

from connectors.base import RecordUpdate, WriteOutcome, WriteResult
from connectors.errors import (
    AuthExpired,
    ConfigurationError,
    CrmError,
    QuotaExhausted,
    RateLimited,
    Transient,
)

__all__ = [
    "BATCH_LIMIT",
    "CRM",
    "LIST_LIMIT",
    "batch_results",
    "created_results",
    "epoch_ms",
    "primary",
    "to_wire",
    "translate",
    "upserted_results",
]

CRM = "hubspot"
#: The most inputs a batch request takes, and records a list page holds.
BATCH_LIMIT = 100
LIST_LIMIT = 100


def _status_error(status: int, body: Any, headers: Mapping[str, str]) -> CrmError:
    try:
        data = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    # Every field is optional: 429s carry errorType and policyName, other errors category.
    category = data.get("category") or data.get("errorType")
    message = str(data.get("message") or f"HTTP {status}")
    if status == 429:
        policy = str(data.get("policyName") or "").upper()
        if policy == "DAILY" or (not policy and "daily limit" in message.lower()):
            return QuotaExhausted(message, crm=CRM, code="DAILY", retry_after=3600.0)
        return RateLimited(message, crm=CRM, code="RATE_LIMIT", retry_after=_wait(headers))
    if status == 401:
        if category == "EXPIRED_AUTHENTICATION":
            return AuthExpired(message, crm=CRM, code=category)
        return ConfigurationError(f"access token refused: {message}", crm=CRM, code=category)
    if status == 403:
        return ConfigurationError(f"permission denied: {message}", crm=CRM, code=category)
    if status >= 500 or status == 0:
        return Transient(f"HTTP {status}: {message}", crm=CRM, code=category)
    return ConfigurationError(f"HTTP {status}: {message}", crm=CRM, code=category)


def _wait(headers: Mapping[str, str]) -> float:
    """Seconds to wait after a 429: ``Retry-After``, else the limit's interval, else 1."""
    for name, seconds_per_unit in (
        ("Retry-After", 1.0),
        ("X-HubSpot-RateLimit-Interval-Milliseconds", 0.001),
    ):
        raw = headers.get(name)
        try:
            if raw:
                return max(0.0, float(raw) * seconds_per_unit)
        except ValueError:
            continue
    return 1.0


def translate(exc: Exception) -> CrmError:
    """A hubspot-api-client / urllib3 exception as our own error, split by action.

    Every sub-package has its own ``ApiException`` class, so they are recognised by their
    ``status``/``body`` attributes rather than by type.
    """
    if isinstance(exc, CrmError):
        return exc
    if isinstance(exc, Urllib3Error | ConnectionError | TimeoutError):
        return Transient(f"cannot reach HubSpot: {type(exc).__name__}", crm=CRM)
    status = getattr(exc, "status", None)
    if isinstance(status, int) and type(exc).__module__.startswith("hubspot."):
        headers = getattr(exc, "headers", None) or {}
        return _status_error(status, getattr(exc, "body", None), headers)
    return CrmError(f"unexpected {type(exc).__name__}: {exc}", crm=CRM)


def epoch_ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


def to_wire(value: Any) -> str | None:
    """A partnersync value as a HubSpot property string."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def created_results(count: int, page: Mapping[str, Any]) -> list[WriteResult]:
    """Per-input results of a batch create, in input order.

    Results carry the trace id we sent; refused inputs are reported without one, in input
    order, so they are matched to the inputs left over.
    """
    return _traced_results(count, page, None)


def upserted_results(keys: Sequence[str], page: Mapping[str, Any]) -> list[WriteResult]:
    """Per-input results of a batch upsert, in input order: results by the trace id we
    sent (``new`` says whether the key made a record), refusals by the key they name."""
    return _traced_results(len(keys), page, keys)


def _traced_results(
    count: int, page: Mapping[str, Any], keys: Sequence[str] | None
) -> list[WriteResult]:
    made: dict[int, tuple[str, bool]] = {}
    for result in page.get("results") or []:
        trace = str(result.get("objectWriteTraceId", ""))
        if trace.isdigit():
            made[int(trace)] = (str(result.get("id")), bool(result.get("new", True)))
    errors = list(page.get("errors") or [])
    by_key: dict[str, Mapping[str, Any]] = {}
    if keys is not None:
        for error in errors:
            for key in (error.get("context") or {}).get("ids") or ():
                by_key[str(key)] = error
        errors = [e for e in errors if not (e.get("context") or {}).get("ids")]
    out: list[WriteResult] = []
    for index in range(count):
        if index in made:
            record_id, new = made[index]
            out.append(WriteResult(record_id, WriteOutcome.OK, created=new))
            continue
        error = by_key.get(keys[index]) if keys is not None else None
        if error is None:
            error = errors.pop(0) if errors else {}
        outcome = (
            WriteOutcome.RETRY if error.get("category") == "RATE_LIMITS" else WriteOutcome.REJECTED
        )
        out.append(
            WriteResult(
                "",
                outcome,
                code=error.get("category", "UNKNOWN"),
                message=error.get("message", "HubSpot did not report on this input"),
            )
        )
    return out


def primary(links: Sequence[Mapping[str, Any]], *, id_key: str, type_key: str | None) -> str | None:
    """The primary company of a deal's association list (else the first one)."""
    if not links:
        return None
    for link in links:
        if type_key is not None:
            if "primary" in str(link.get(type_key, "")).lower():
                return str(link[id_key])
        else:
            for kind in link.get("associationTypes") or []:
                if kind.get("typeId") == 5 or "primary" in str(kind.get("label") or "").lower():
                    return str(link[id_key])
    return str(links[0][id_key])


def batch_results(chunk: Sequence[RecordUpdate], page: Mapping[str, Any]) -> list[WriteResult]:
    done = {str(r.get("id")) for r in page.get("results") or []}
    failed: dict[str, WriteResult] = {}
    unattributed: list[Mapping[str, Any]] = []
    for error in page.get("errors") or []:
        ids = [str(i) for i in ((error.get("context") or {}).get("ids") or [])]
        category = error.get("category")
        outcome = WriteOutcome.RETRY if category == "RATE_LIMITS" else WriteOutcome.REJECTED
        if not ids:
            unattributed.append(error)
        for record_id in ids:
            failed[record_id] = WriteResult(
                record_id, outcome, code=category, message=error.get("message")
            )
    out: list[WriteResult] = []
    for update in chunk:
        if update.id in failed:
            out.append(failed[update.id])
        elif update.id in done:
            out.append(WriteResult(update.id, WriteOutcome.OK))
        else:
            error = unattributed[0] if unattributed else {}
            out.append(
                WriteResult(
                    update.id,
                    WriteOutcome.REJECTED,
                    code=error.get("category", "UNKNOWN"),
                    message=error.get("message", "HubSpot did not report on this record"),
                )
            )
    return out
