"""Webhooks: the CRMs say something changed; partnersync pulls that CRM at once.

- ``POST /v1/webhooks/hubspot``: HubSpot's signed events. ``X-HubSpot-Signature-v3`` is
  the base64 HMAC-SHA256, keyed with the app's client secret (``[hubspot]
  client_secret``), of method + URI + body + ``X-HubSpot-Request-Timestamp``. Refused
  (401) when the signature is wrong, the timestamp is more than 5 minutes away from now,
  or the secret is not set; the same signed request twice is a replay (409). The URI is
  the one HubSpot called: ``[api] public_url`` + the path and query when a proxy stands
  in front, else the request's own URL.
- ``POST /v1/webhooks/salesforce``: an Outbound Message (SOAP). Its ``OrganizationId``
  must be ``[salesforce] organization_id`` (the first 15 characters compared, in constant
  time; 403 otherwise); the answer is the ``Ack`` Salesforce waits for.

Events are hints, never data (they come late, twice, out of order): each accepted request
triggers a pull of its CRM, folded into one waiting pull however many arrive; the deals a
HubSpot request names are read by id first (:func:`sync.mirror.pull.note_hints`). A HubSpot
``deal.deletion`` marks the deal deleted at once (its registration released, its
commission reversed), without waiting for the archived listing. A HubSpot property change
that is partnersync's own write coming back (an outbound field now holding what the push
wrote) sets nothing off: a request of only those, or only deletions, queues no pull.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote, unquote
from xml.etree import ElementTree

from fastapi import FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.api.errors import ApiError
from sync.api.models import ErrorOut, WebhookAccepted
from sync.log import get_logger
from sync.settings import Settings
from sync.store import WebhookReceipt, transaction

__all__ = ["Hooks", "hubspot_signature", "install", "outbound_ack", "parse_outbound"]

log = get_logger("sync.api.webhooks")

#: How far a HubSpot timestamp may be from now (either way).
FRESH = timedelta(minutes=5)
#: The escapes HubSpot decodes in the URI before signing it (the others stay encoded).
_DECODED = ("%3A", "%2F", "%3F", "%40", "%21", "%24", "%27", "%28", "%29", "%2A", "%2C", "%3B")
_ESCAPE = re.compile("|".join(_DECODED), re.IGNORECASE)
_OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
#: HubSpot sends at most 100 events a request; Salesforce at most 100 notifications.
MAX_EVENTS = 100


class Hooks(Protocol):
    """What a webhook sets off (the daemon's :class:`~sync.daemon.Daemon`)."""

    def trigger(self, job: str, *args: str) -> bool: ...

    def deleted(self, crm: str, crm_ids: list[str]) -> list[str]: ...

    def changed(self, crm: str, crm_ids: list[str]) -> bool: ...

    def own_writes(self, crm: str, changes: list[tuple[str, str, Any]]) -> list[bool]: ...


def hubspot_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """HubSpot's v3 signature of a request."""
    signed = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _hubspot_uri(request: Request, public_url: str) -> str:
    """The URI HubSpot signed: the URL it called, with its few decoded escapes decoded."""
    raw_path = request.scope.get("raw_path") or quote(request.url.path).encode()
    target = raw_path.decode("latin-1")
    query = request.scope.get("query_string", b"").decode("latin-1")
    if query:
        target += "?" + query
    base = public_url or f"{request.url.scheme}://{request.headers.get('host', '')}"
    return _ESCAPE.sub(lambda m: unquote(m.group(0)), base + target)


@dataclass(frozen=True)
class OutboundMessage:
    """An Outbound Message: the org that sent it and the records it names."""

    organization_id: str
    record_ids: list[str]


def parse_outbound(body: bytes) -> OutboundMessage:
    """The org id and record ids of an Outbound Message; ``ApiError`` 422 when it is not
    one (a document type declaration is refused outright: no entity expansion)."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise ApiError(422, "invalid", "an Outbound Message has no document type declaration")
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - no DTD, size-limited body
    except ElementTree.ParseError as exc:
        raise ApiError(422, "invalid", f"not XML: {exc}") from None
    notifications = root.find(f".//{{{_OUTBOUND}}}notifications")
    if notifications is None:
        raise ApiError(422, "invalid", "not an Outbound Message: no notifications element")
    organization = (notifications.findtext(f"{{{_OUTBOUND}}}OrganizationId") or "").strip()
    ids = [
        (n.findtext(f"{{{_OUTBOUND}}}sObject/{{urn:sobject.enterprise.soap.sforce.com}}Id")
         or n.findtext(f"{{{_OUTBOUND}}}Id") or "").strip()
        for n in notifications.findall(f"{{{_OUTBOUND}}}Notification")
    ]  # fmt: skip
    if not organization or not ids or len(ids) > MAX_EVENTS:
        raise ApiError(422, "invalid", "an Outbound Message names its org and 1 to 100 records")
    return OutboundMessage(organization, [i for i in ids if i])


def outbound_ack(ack: bool = True) -> str:
    """The SOAP answer Salesforce waits for."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{_SOAP}"><soapenv:Body>'
        f'<notificationsResponse xmlns="{_OUTBOUND}"><Ack>{str(ack).lower()}</Ack>'
        "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
    )


def _fresh(timestamp: str, now: datetime) -> bool:
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs(now.timestamp() * 1000 - sent) <= FRESH.total_seconds() * 1000


def _first_time(factory: sessionmaker[Session], source: str, signature: str, timestamp: str,
                now: datetime) -> bool:  # fmt: skip
    """Record a signed request; False when it was seen before (a replay)."""
    digest = hashlib.sha256(f"{source}:{timestamp}:{signature}".encode()).hexdigest()
    try:
        with transaction(factory) as session:
            session.execute(
                delete(WebhookReceipt).where(WebhookReceipt.received_at < now - 2 * FRESH)
            )
            session.add(WebhookReceipt(digest=digest, source=source, received_at=now))
    except IntegrityError:
        return False
    return True


def _events(body: bytes) -> list[dict[str, Any]]:
    try:
        events = json.loads(body)
    except ValueError:
        raise ApiError(422, "invalid", "the body is not JSON") from None
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ApiError(422, "invalid", "HubSpot sends a JSON array of events")
    if len(events) > MAX_EVENTS:
        raise ApiError(422, "invalid", f"at most {MAX_EVENTS} events a request")
    return events


def install(app: FastAPI, settings: Settings, factory: sessionmaker[Session],
            hooks: Callable[[], Hooks | None], clock: Callable[[], datetime]) -> None:  # fmt: skip
    """Add the two webhook routes to ``app``; ``hooks()`` is the daemon they set off
    (None: this process has no queue to put a pull on, and webhooks are 503)."""
    refused: dict[int | str, dict[str, Any]] = {
        status: {"model": ErrorOut, "description": text}
        for status, text in {
            401: "no valid signature (wrong, stale, or no secret configured)",
            403: "another Salesforce org",
            409: "this signed request was received before (a replay)",
            422: "not a webhook body",
            503: "no daemon in this process to pull",
        }.items()
    }

    def _daemon() -> Hooks:
        daemon = hooks()
        if daemon is None:
            raise ApiError(503, "no_daemon", "this API process has no queue to trigger a "
                           "pull on: serve webhooks with partnersync run, or Redis")  # fmt: skip
        return daemon

    @app.post("/v1/webhooks/hubspot", response_model=WebhookAccepted, tags=["webhooks"],
              responses=refused)  # fmt: skip
    async def hubspot(request: Request) -> Any:
        """HubSpot's events (``X-HubSpot-Signature-v3``): a pull of HubSpot, at once."""
        from starlette.concurrency import run_in_threadpool

        secret = settings.hubspot.client_secret
        signature = request.headers.get("x-hubspot-signature-v3", "")
        timestamp = request.headers.get("x-hubspot-request-timestamp", "")
        body = await request.body()
        now = clock()
        if secret is None or not secret.get_secret_value():
            raise ApiError(401, "unsigned", "webhooks need [hubspot] client_secret")
        if not signature or not timestamp:
            raise ApiError(401, "unsigned", "X-HubSpot-Signature-v3 and "
                           "X-HubSpot-Request-Timestamp are required")  # fmt: skip
        if not _fresh(timestamp, now):
            raise ApiError(401, "stale_signature", "the request timestamp is more than 5 "
                           "minutes away from now")  # fmt: skip
        uri = _hubspot_uri(request, settings.api.public_url)
        expected = hubspot_signature(secret.get_secret_value(), request.method, uri, body,
                                     timestamp)  # fmt: skip
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ApiError(401, "bad_signature", "the signature does not match the request")
        events = _events(body)
        daemon = _daemon()
        if not await run_in_threadpool(_first_time, factory, "hubspot", signature, timestamp,
                                       now):  # fmt: skip
            raise ApiError(409, "replayed", "this signed request was received before")
        deleted = sorted({str(e.get("objectId")) for e in events
                          if (e.get("subscriptionType") or e.get("eventType")) == "deal.deletion"
                          and e.get("objectId") is not None})  # fmt: skip
        named = [e for e in events if e.get("objectId") is not None
                 and str(e.get("objectId")) not in deleted]  # fmt: skip
        # The push's own writes come back as property changes: no pull for those.
        values = [(str(e["objectId"]), str(e.get("propertyName") or ""), e.get("propertyValue"))
                  for e in named]  # fmt: skip
        echoes = await run_in_threadpool(daemon.own_writes, "hubspot", values)
        changed = sorted({value[0] for value, own in zip(values, echoes, strict=True) if not own})
        marked = await run_in_threadpool(daemon.deleted, "hubspot", deleted) if deleted else []
        if not changed:  # deletions (applied above) or partnersync's own writes only
            log.info("webhook.hubspot", events=len(events), deleted=len(marked), own=sum(echoes))
            return {"accepted": len(events), "deleted": len(marked), "pull": "not needed"}
        # Each changed deal is read by id at the start of the pull: the search index may
        # not show the change for seconds yet.
        sent = await run_in_threadpool(daemon.changed, "hubspot", changed)
        log.info("webhook.hubspot", events=len(events), deleted=len(marked), own=sum(echoes),
                 pull_sent=sent)  # fmt: skip
        return {"accepted": len(events), "deleted": len(marked), "pull": "queued" if sent
                else "folded into a waiting pull"}  # fmt: skip

    @app.post("/v1/webhooks/salesforce", tags=["webhooks"], responses={
        **refused, 200: {"content": {"text/xml": {"schema": {"type": "string"}}},
                         "description": "the Ack"}})  # fmt: skip
    async def salesforce(request: Request) -> Any:
        """A Salesforce Outbound Message: a pull of Salesforce, at once; answered ``Ack``."""
        from starlette.concurrency import run_in_threadpool

        configured = settings.salesforce.organization_id
        message = parse_outbound(await request.body())
        if not configured or not hmac.compare_digest(
            message.organization_id[:15].encode(), configured[:15].encode()
        ):
            raise ApiError(403, "wrong_organization", "this endpoint takes Outbound Messages "
                           "of [salesforce] organization_id only")  # fmt: skip
        daemon = _daemon()
        sent = await run_in_threadpool(daemon.changed, "salesforce", message.record_ids)
        log.info("webhook.salesforce", notifications=len(message.record_ids), pull_sent=sent)
        return Response(outbound_ack(), media_type="text/xml; charset=utf-8")
