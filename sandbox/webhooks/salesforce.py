"""Salesforce Outbound Messages for Opportunity changes (PROTOCOLS C2).

One message is a SOAP 1.1 envelope (``text/xml``) whose body is ``notifications`` in the
outbound namespace: ``OrganizationId``, ``ActionId``, ``SessionId`` (nil: the action does
not send a session), ``EnterpriseUrl``, ``PartnerUrl``, then 1 to 100 ``Notification``,
each with its own ``Id`` and an ``sObject`` of ``xsi:type="sf:Opportunity"`` holding the
record's ``Id`` and the action's chosen fields (unset ones left out). The receiver answers
200 with ``notificationsResponse`` holding ``<Ack>true</Ack>``; anything else is a
failure, retried with the same message. The values are the record's when it changed.

Outbound Messages are sent for creates and updates only: Salesforce's workflow rules and
flows that send them do not run on delete (deletes reach a sync through ``queryAll``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from sandbox.salesforce.ids import IdFactory

__all__ = [
    "ACTION_ID",
    "FIELDS",
    "MAX_NOTIFICATIONS",
    "OUTBOUND_NS",
    "SOBJECT_NS",
    "Notification",
    "acknowledged",
    "notification",
    "outbound_message",
]

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT_NS = "urn:sobject.enterprise.soap.sforce.com"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
#: Notifications one message carries at most.
MAX_NOTIFICATIONS = 100
#: The outbound message action's id (``04k``) and the fields it sends besides ``Id``.
ACTION_ID = IdFactory("04k")()
FIELDS = ("AccountId", "Amount", "CloseDate", "Name", "StageName", "SystemModstamp")
_API_VERSION = "59.0"
_NOTIFICATION_IDS = IdFactory("04l")


@dataclass(frozen=True, slots=True)
class Notification:
    """One record change: the notification's own id, the record's type and fields."""

    id: str
    sobject: str
    fields: tuple[tuple[str, str], ...]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(Decimal(repr(value)))  # the shortest digits of the stored number
    return str(value)


def notification(sobject: str, record: Mapping[str, Any]) -> Notification:
    """A notification of ``record`` (a stored record keyed by field name) as it is now."""
    fields = [("Id", str(record["Id"]))]
    fields += [(name, _text(record[name])) for name in FIELDS if record.get(name) is not None]
    return Notification(_NOTIFICATION_IDS(), sobject, tuple(fields))


def outbound_message(
    notifications: Sequence[Notification], organization_id: str, base_url: str
) -> bytes:
    """The SOAP envelope of one message (1 to 100 notifications)."""
    if not 1 <= len(notifications) <= MAX_NOTIFICATIONS:
        raise ValueError(f"an outbound message holds 1 to {MAX_NOTIFICATIONS} notifications")
    org15 = organization_id[:15]
    base = base_url.rstrip("/")
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NS}">',
        f"<OrganizationId>{escape(organization_id)}</OrganizationId>",
        f"<ActionId>{ACTION_ID}</ActionId>",
        '<SessionId xsi:nil="true"/>',
        f"<EnterpriseUrl>{escape(base)}/services/Soap/c/{_API_VERSION}/{org15}</EnterpriseUrl>",
        f"<PartnerUrl>{escape(base)}/services/Soap/u/{_API_VERSION}/{org15}</PartnerUrl>",
    ]
    for item in notifications:
        parts.append(f"<Notification><Id>{item.id}</Id>")
        parts.append(f'<sObject xsi:type="sf:{item.sobject}" xmlns:sf="{SOBJECT_NS}">')
        parts.extend(f"<sf:{name}>{escape(value)}</sf:{name}>" for name, value in item.fields)
        parts.append("</sObject></Notification>")
    parts += ["</notifications>", "</soapenv:Body>", "</soapenv:Envelope>"]
    return "".join(parts).encode("utf-8")


def acknowledged(status: int, body: bytes) -> bool:
    """Whether a receiver's answer acknowledges the message: 200 and ``<Ack>true</Ack>``
    inside ``notificationsResponse`` (namespace prefixes may be anything)."""
    if status != 200:
        return False
    try:
        # The answer of the receiver a test or an operator configured, not of strangers.
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return False
    for response in root.iter(f"{{{OUTBOUND_NS}}}notificationsResponse"):
        for element in response.iter():
            if element.tag == "Ack" or element.tag.endswith("}Ack"):
                return (element.text or "").strip().lower() == "true"
    return False
