"""Response helpers shared by both halves of the sandbox: fast JSON and the error bodies.

Salesforce answers errors as a JSON *array* of ``{"message", "errorCode"[, "fields"]}``;
HubSpot as one object ``{"status": "error", "message", "correlationId", "category", ...}``,
except its 429s, which have ``errorType`` and ``policyName`` and no ``category``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

__all__ = [
    "JSONBody",
    "hubspot_error",
    "hubspot_rate_limited",
    "json_response",
    "salesforce_error",
]


class JSONBody(Response):
    """A JSON response serialised with orjson (the sandbox serves large pages)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def json_response(
    content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response with the given status."""
    return JSONBody(content, status_code=status_code, headers=headers)


def salesforce_error(
    status_code: int,
    error_code: str,
    message: str,
    fields: Sequence[str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A Salesforce REST error: an array with one error object."""
    error: dict[str, Any] = {"message": message, "errorCode": error_code}
    if fields is not None:
        error["fields"] = list(fields)
    return json_response([error], status_code, headers)


def hubspot_error(
    status_code: int,
    category: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A HubSpot CRM v3 error object (``extra`` adds e.g. ``context``, ``errorType``)."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    body.update(extra)
    return json_response(body, status_code, headers)


#: HubSpot's rate-limit policies and the message of each.
RATE_POLICIES = {
    "SECONDLY": "You have reached your secondly limit.",
    "TEN_SECONDLY_ROLLING": "You have reached your ten_secondly_rolling limit.",
    "DAILY": "You have reached your daily limit.",
}


def hubspot_rate_limited(
    policy: str, retry_after: int, headers: Mapping[str, str] | None = None
) -> Response:
    """HubSpot's 429, exactly as it sends it (PROTOCOLS B6): ``errorType`` RATE_LIMIT,
    the ``policyName`` that was hit, no ``category``; with ``Retry-After`` (seconds)."""
    body = {
        "status": "error",
        "message": RATE_POLICIES[policy],
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
    }
    return json_response(body, 429, {**(headers or {}), "Retry-After": str(retry_after)})
