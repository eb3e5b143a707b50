"""HubSpot webhook events and their ``X-HubSpot-Signature-v3`` (PROTOCOLS C1).

A delivery is a POST of a JSON array of at most 100 events. Each attempt is signed anew:
``X-HubSpot-Request-Timestamp`` is the wall clock in epoch milliseconds (the receiver
refuses one more than 5 minutes off, so it is never the sandbox clock, which tests
freeze), and ``X-HubSpot-Signature-v3`` is the standard base64 of HMAC-SHA256, keyed with
the app's client secret, over method + URI + body + that timestamp. The URI is the URL
called, with the escapes HubSpot decodes before signing decoded. The legacy v1 header
(hex SHA-256 of secret + body, replayable) is sent too, as HubSpot does.

Events carry ``occurredAt`` from the sandbox clock (the instant the CRM says the change
happened, as ``hs_lastmodifieddate`` does) and ``attemptNumber`` from 0.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import re
import threading
import time
from collections.abc import Mapping
from typing import Any, Literal

import orjson

__all__ = [
    "APP_ID",
    "MAX_EVENTS",
    "PORTAL_ID",
    "SUBSCRIPTIONS",
    "ChangeSource",
    "EventIds",
    "deal_events",
    "hubspot_request",
    "sign_v3",
    "signing_uri",
]

#: The portal (account) id and the app id every event names.
PORTAL_ID = 24816357
APP_ID = 1161
#: Events one request carries at most.
MAX_EVENTS = 100
#: Subscription type -> the id of the app's subscription to it.
SUBSCRIPTIONS = {"deal.creation": 3101, "deal.propertyChange": 3102, "deal.deletion": 3103}
#: ``API`` for writes through the API, ``CRM_UI`` for a person's edit in HubSpot.
ChangeSource = Literal["API", "CRM_UI"]
Action = Literal["create", "update", "delete"]

_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(_DECODED), re.IGNORECASE)


class EventIds:
    """Event ids from a counter (HubSpot's are not unique either: only a hint)."""

    def __init__(self, start: int = 100) -> None:
        self._ids = itertools.count(start)
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return next(self._ids)


def deal_events(
    action: Action,
    object_id: str,
    properties: Mapping[str, str | None],
    *,
    occurred_at_ms: int,
    source: ChangeSource,
    event_id: EventIds,
) -> list[dict[str, Any]]:
    """The events of one change to a deal: one creation or deletion, or one property
    change per property written (``properties``: their values on the wire, after it)."""
    common = {"changeSource": source}
    kinds: list[tuple[str, dict[str, Any]]]
    if action == "update":
        kinds = [
            ("deal.propertyChange", {"propertyName": name, "propertyValue": value or ""})
            for name, value in properties.items()
        ]
    else:
        kinds = [("deal.creation" if action == "create" else "deal.deletion", {})]
    return [
        {
            "objectId": int(object_id),
            **extra,
            **common,
            "eventId": event_id(),
            "subscriptionId": SUBSCRIPTIONS[kind],
            "portalId": PORTAL_ID,
            "appId": APP_ID,
            "occurredAt": occurred_at_ms,
            "subscriptionType": kind,
            "attemptNumber": 0,
        }
        for kind, extra in kinds
    ]


def signing_uri(url: str) -> str:
    """The URI as HubSpot signs it: the URL called, with only the escapes it decodes."""
    return _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], url)


def sign_v3(secret: str, method: str, uri: str, body: bytes | str, timestamp: str) -> str:
    """``X-HubSpot-Signature-v3``: base64(HMAC-SHA256(secret, method + URI + body + ts))."""
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    message = method.encode("utf-8") + uri.encode("utf-8") + raw + timestamp.encode("utf-8")
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def hubspot_request(
    url: str, secret: str, events: list[dict[str, Any]], attempt: int
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one delivery attempt (``attemptNumber`` = ``attempt``)."""
    body = orjson.dumps([{**event, "attemptNumber": attempt} for event in events])
    timestamp = str(time.time_ns() // 1_000_000)
    legacy = hashlib.sha256(secret.encode("utf-8") + body).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-HubSpot-Signature": legacy,
        "X-HubSpot-Signature-Version": "v1",
        "X-HubSpot-Signature-v3": sign_v3(secret, "POST", signing_uri(url), body, timestamp),
        "X-HubSpot-Request-Timestamp": timestamp,
    }
