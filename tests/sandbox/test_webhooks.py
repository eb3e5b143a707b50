"""The sandbox's change notifications, checked by a receiver as the daemon would: HubSpot
webhooks verified with an independent HMAC and with hubspot-api-client's ``Signature``;
Salesforce Outbound Messages parsed with ElementTree and acknowledged."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.utils.signature import Signature
from simple_salesforce import Salesforce

from sandbox import OUTBOUND_NS, SOBJECT_NS, Sandbox, SandboxServer, sign_v3, signing_uri
from sandbox.webhooks.hubspot import APP_ID, PORTAL_ID, SUBSCRIPTIONS
from tests.sandbox.receiver import ACK, NACK, Answer, Delivery, Receiver

SECRET = "webhook-secret-1"
ORG = "00D000000000042AAA"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
EVENT_KEYS = {
    "objectId", "changeSource", "eventId", "subscriptionId", "portalId", "appId",
    "occurredAt", "subscriptionType", "attemptNumber",
}  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(default=Answer(200, ACK)) as server:
        yield server


def _hubspot(sandbox: Sandbox, receiver: Receiver, **knobs: Any) -> str:
    url = f"{receiver.url}/hooks/hubspot?app=partnersync&x=a%2Cb"
    defaults = {"webhook_debounce_seconds": 0.05, "webhook_retry_seconds": 0.05}
    sandbox.reconfigure(
        hubspot_webhook_url=url, hubspot_client_secret=SECRET, **{**defaults, **knobs}
    )
    return url


def _verify_hubspot(delivery: Delivery, url: str) -> list[dict[str, Any]]:
    """Check a delivery as a receiver must (independent HMAC, then the official client)."""
    timestamp = delivery.headers["X-HubSpot-Request-Timestamp"]
    assert abs(int(timestamp) - time.time() * 1000) < 60_000
    uri = url.replace("%2C", ",")  # HubSpot decodes %2C before signing
    signed = b"POST" + uri.encode() + delivery.body + timestamp.encode()
    expected = base64.b64encode(hmac.new(SECRET.encode(), signed, hashlib.sha256).digest())
    signature = delivery.headers["X-HubSpot-Signature-v3"]
    assert hmac.compare_digest(signature.encode(), expected)
    assert Signature.is_valid(
        signature=signature,
        client_secret=SECRET,
        request_body=delivery.body.decode(),
        http_uri=uri,
        http_method="POST",
        signature_version="v3",
        timestamp=timestamp,
    )
    assert delivery.headers["Content-Type"] == "application/json"
    events = json.loads(delivery.body)
    assert isinstance(events, list)
    assert 1 <= len(events) <= 100
    return events


def _events(receiver: Receiver, url: str) -> list[dict[str, Any]]:
    found = [e for d in receiver.deliveries for e in _verify_hubspot(d, url)]
    return sorted(found, key=lambda e: e["eventId"])


def test_the_signer_matches_the_official_test_vector() -> None:
    """sign_v3 gives PROTOCOLS C1's vector, as hubspot-api-client's own signer does."""
    args = (
        "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        "POST",
        "https://www.example.com/webhook_uri",
        "{'example_field':'example_value'}",
        "1693657560000",
    )
    assert sign_v3(*args) == "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="
    secret, method, uri, body, timestamp = args
    assert sign_v3(*args) == Signature.get_signature(secret, body, "v3", uri, method, timestamp)


@pytest.mark.parametrize(
    ("url", "signed"),
    [
        pytest.param("https://h.io/a%3Ab%2Fc?q=%40%21%24%27%28%29%2A%2C%3B",
                     "https://h.io/a:b/c?q=@!$'()*,;", id="decoded"),
        pytest.param("https://h.io/a?q=%20x%2By%3D", "https://h.io/a?q=%20x%2By%3D",
                     id="others-stay-encoded"),
        pytest.param("https://h.io/a?q=%3a%2f", "https://h.io/a?q=:/", id="lower-case-hex"),
    ],
)  # fmt: skip
def test_the_signed_uri_decodes_only_hubspots_escapes(url: str, signed: str) -> None:
    assert signing_uri(url) == signed


def test_hubspot_api_changes_arrive_signed(
    sandbox: Sandbox, hs: HubSpot, receiver: Receiver
) -> None:
    """Create, update and archive through the API: creation, one propertyChange per
    property written (with its new value) and deletion, signed v3, changeSource API."""
    url = _hubspot(sandbox, receiver)
    api = hs.crm.deals.basic_api
    deal = api.create(SimplePublicObjectInputForCreate(properties={"dealname": "Hooli"}))
    api.update(deal.id, SimplePublicObjectInput(properties={"amount": "12.5", "dealstage":
                                                            "closedwon"}))  # fmt: skip
    api.archive(deal.id)
    assert sandbox.webhooks.flush(10)
    events = _events(receiver, url)
    assert [(e["subscriptionType"], e.get("propertyName"), e.get("propertyValue")) for e in
            events] == [("deal.creation", None, None), ("deal.propertyChange", "amount", "12.5"),
                        ("deal.propertyChange", "dealstage", "closedwon"),
                        ("deal.deletion", None, None)]  # fmt: skip
    for event in events:
        assert set(event) >= EVENT_KEYS
        assert event["objectId"] == int(deal.id)
        assert event["changeSource"] == "API"
        assert (event["portalId"], event["appId"]) == (PORTAL_ID, APP_ID)
        assert event["subscriptionId"] == SUBSCRIPTIONS[event["subscriptionType"]]
        assert event["attemptNumber"] == 0
        assert isinstance(event["occurredAt"], int)
    now_ms = int(sandbox.now().timestamp() * 1000)
    assert all(abs(e["occurredAt"] - now_ms) < 60_000 for e in events)
    stats = sandbox.webhooks.snapshot()["hubspot"]
    assert stats["queued"] == stats["events_delivered"] == 4
    assert stats["failures"] == stats["dropped"] == stats["waiting"] == 0


def test_people_editing_in_hubspot_send_crm_ui_events(
    sandbox: Sandbox, sandbox_server: SandboxServer, receiver: Receiver
) -> None:
    """add_deal, edit and delete (a person in HubSpot) send the same events, changeSource
    CRM_UI; companies send none, and occurredAt is the sandbox clock."""
    url = _hubspot(sandbox, receiver)
    customer = sandbox.add_customer("hubspot", "Initech", "initech.example")
    deal = sandbox.add_deal("hubspot", name="Initech renewal", customer=customer,
                            amount=Decimal("1200.00"), close_date=date(2027, 1, 31))  # fmt: skip
    sandbox.edit("hubspot", "deals", deal, {"amount": Decimal("1300.00")}, user=3)
    sandbox.delete("hubspot", "deals", deal)
    assert sandbox.webhooks.flush(10)
    events = _events(receiver, url)
    assert [(e["subscriptionType"], e.get("propertyValue")) for e in events] == [
        ("deal.creation", None),
        ("deal.propertyChange", "1300.00"),
        ("deal.deletion", None),
    ]
    assert {e["changeSource"] for e in events} == {"CRM_UI"}
    assert {e["objectId"] for e in events} == {int(deal)}
    now_ms = int(sandbox.now().timestamp() * 1000)
    assert all(abs(e["occurredAt"] - now_ms) < 60_000 for e in events)


def test_events_are_batched_at_most_100_a_request(
    sandbox: Sandbox, hs: HubSpot, receiver: Receiver
) -> None:
    """150 creations close together go out in two requests, of 100 and 50 events."""
    url = _hubspot(sandbox, receiver, webhook_debounce_seconds=0.5)
    inputs = [SimplePublicObjectBatchInputForCreate(properties={"dealname": f"D{i}"}) for i in
              range(150)]  # fmt: skip
    batch = hs.crm.deals.batch_api
    batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs[:100]))
    batch.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs[100:]))
    assert sandbox.webhooks.flush(10)
    sizes = [len(_verify_hubspot(d, url)) for d in receiver.deliveries]
    assert sorted(sizes) == [50, 100]
    assert {e["subscriptionType"] for e in _events(receiver, url)} == {"deal.creation"}


def test_a_refused_delivery_is_retried_and_resigned(
    sandbox: Sandbox, hs: HubSpot, receiver: Receiver
) -> None:
    """A 500 then a 200: the same events again after the retry gap, attemptNumber 1,
    freshly signed; the stats count one failure and one delivery."""
    receiver.script = [Answer(500)]
    url = _hubspot(sandbox, receiver, webhook_retry_seconds=0.3)
    hs.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(properties={"dealname": "R"}))
    assert sandbox.webhooks.flush(10)
    first, second = receiver.deliveries
    before, after = _verify_hubspot(first, url), _verify_hubspot(second, url)
    assert [e["attemptNumber"] for e in before + after] == [0, 1]
    assert before[0]["eventId"] == after[0]["eventId"]
    assert second.at - first.at >= 0.25
    stats = sandbox.webhooks.snapshot()["hubspot"]
    assert (stats["failures"], stats["delivered"], stats["dropped"]) == (1, 1, 0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_receiver_neither_blocks_nor_fails_writes(
    sandbox: Sandbox, hs: HubSpot
) -> None:
    """Writes answer at once while every attempt fails; after the last attempt the events
    are dropped, and the stats say so."""
    sandbox.reconfigure(
        hubspot_webhook_url=f"http://127.0.0.1:{_free_port()}/nobody",
        webhook_debounce_seconds=0,
        webhook_retry_seconds=0.05,
        webhook_attempts=3,
    )
    started = time.perf_counter()
    for i in range(5):
        hs.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(properties={"dealname":
                                                                                  f"U{i}"}))  # fmt: skip
    assert time.perf_counter() - started < 2
    assert sandbox.webhooks.flush(10)
    stats = sandbox.webhooks.snapshot()["hubspot"]
    assert stats["queued"] == stats["dropped"] == 5
    assert stats["delivered"] == 0
    assert stats["failures"] >= 3


def test_a_slow_receiver_does_not_slow_the_crm(
    sandbox: Sandbox, hs: HubSpot, receiver: Receiver
) -> None:
    """While a delivery waits on a slow receiver, API writes are answered at once."""
    receiver.default = Answer(200, b"", delay=1.0)
    _hubspot(sandbox, receiver, webhook_debounce_seconds=0)
    api = hs.crm.deals.basic_api
    api.create(SimplePublicObjectInputForCreate(properties={"dealname": "S0"}))
    time.sleep(0.2)  # the first delivery is now being answered, slowly
    started = time.perf_counter()
    for i in range(1, 4):
        api.create(SimplePublicObjectInputForCreate(properties={"dealname": f"S{i}"}))
    assert time.perf_counter() - started < 0.8
    assert sandbox.webhooks.flush(10)
    assert sandbox.webhooks.snapshot()["hubspot"]["events_delivered"] == 4


def test_nothing_is_queued_without_a_url(sandbox: Sandbox, hs: HubSpot) -> None:
    """Without webhook URLs no event is built and no thread started."""
    hs.crm.deals.basic_api.create(SimplePublicObjectInputForCreate(properties={"dealname": "N"}))
    sandbox.add_deal("salesforce", name="N", customer=sandbox.add_customer("salesforce", "C"))
    assert not sandbox.webhooks.running
    assert all(s["queued"] == 0 for s in sandbox.webhooks.snapshot().values())


def test_close_stops_delivery(sandbox: Sandbox, receiver: Receiver) -> None:
    """Sandbox.close ends the delivery thread; a later change starts it again."""
    _hubspot(sandbox, receiver)
    customer = sandbox.add_customer("hubspot", "Globex")
    sandbox.add_deal("hubspot", name="G1", customer=customer)
    assert sandbox.webhooks.flush(10)
    assert sandbox.webhooks.running
    sandbox.close()
    assert not sandbox.webhooks.running
    sandbox.add_deal("hubspot", name="G2", customer=customer)
    assert sandbox.webhooks.flush(10)
    assert sandbox.webhooks.snapshot()["hubspot"]["events_delivered"] == 2
    sandbox.close()


# --- Salesforce Outbound Messages ------------------------------------------------------


def _salesforce(sandbox: Sandbox, receiver: Receiver, **knobs: Any) -> None:
    defaults = {"webhook_debounce_seconds": 0.05, "webhook_retry_seconds": 0.05}
    sandbox.reconfigure(
        salesforce_outbound_url=f"{receiver.url}/hooks/salesforce",
        salesforce_organization_id=ORG,
        **{**defaults, **knobs},
    )


def _notifications(delivery: Delivery, base_url: str) -> list[dict[str, str]]:
    """Check one Outbound Message as a receiver must; its sObjects' fields."""
    assert delivery.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(delivery.body)
    assert root.tag == f"{{{SOAP}}}Envelope"
    body = root.find(f"{{{SOAP}}}Body")
    assert body is not None
    message = body.find(f"{{{OUTBOUND_NS}}}notifications")
    assert message is not None
    text = {name: message.findtext(f"{{{OUTBOUND_NS}}}{name}") for name in
            ("OrganizationId", "ActionId", "EnterpriseUrl", "PartnerUrl")}  # fmt: skip
    assert text["OrganizationId"] == ORG
    assert text["ActionId"]
    assert text["ActionId"].startswith("04k")
    assert text["EnterpriseUrl"] == f"{base_url}/services/Soap/c/59.0/{ORG[:15]}"
    assert text["PartnerUrl"] == f"{base_url}/services/Soap/u/59.0/{ORG[:15]}"
    session = message.find(f"{{{OUTBOUND_NS}}}SessionId")
    assert session is not None
    assert session.get(f"{{{XSI}}}nil") == "true"
    found = message.findall(f"{{{OUTBOUND_NS}}}Notification")
    assert 1 <= len(found) <= 100
    records = []
    for item in found:
        notification_id = item.findtext(f"{{{OUTBOUND_NS}}}Id")
        assert notification_id
        assert notification_id.startswith("04l")
        sobject = item.find(f"{{{OUTBOUND_NS}}}sObject")
        assert sobject is not None
        assert sobject.get(f"{{{XSI}}}type") == "sf:Opportunity"
        fields = {child.tag.removeprefix(f"{{{SOBJECT_NS}}}"): child.text or "" for child in
                  sobject}  # fmt: skip
        records.append({"notification": notification_id, **fields})
    return records


def test_salesforce_changes_send_outbound_messages(
    sandbox: Sandbox, sandbox_server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    """API and UI creates and updates of Opportunities each send a Notification carrying
    the record's fields then; a delete sends none (workflow does not run on delete)."""
    _salesforce(sandbox, receiver)
    created = sf.Opportunity.create(
        {"Name": "Hooli", "StageName": "Prospecting", "CloseDate": "2027-03-31", "Amount": 1250.5}
    )["id"]
    sf.Opportunity.update(created, {"StageName": "Closed Won"})
    customer = sandbox.add_customer("salesforce", "Initech")
    by_person = sandbox.add_deal("salesforce", name="Initech", customer=customer,
                                 amount=Decimal("99.90"))  # fmt: skip
    sf.Opportunity.delete(created)
    assert sandbox.webhooks.flush(10)
    records = [r for d in receiver.deliveries for r in _notifications(d, sandbox_server.url)]
    assert [(r["Id"], r["StageName"]) for r in records] == [
        (created, "Prospecting"),
        (created, "Closed Won"),
        (by_person, "Prospecting"),
    ]
    assert records[0]["Amount"] == "1250.5"
    assert records[0]["CloseDate"] == "2027-03-31"
    assert records[0]["Name"] == "Hooli"
    assert records[0]["SystemModstamp"].endswith("Z")
    assert records[2]["AccountId"] == customer
    assert len({r["notification"] for r in records}) == 3
    stats = sandbox.webhooks.snapshot()["salesforce"]
    assert stats["events_delivered"] == 3
    assert stats["failures"] == 0


def test_an_outbound_message_not_acknowledged_is_sent_again(
    sandbox: Sandbox, sandbox_server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    """Ack false, then a 503, then Ack true: the same message three times, with growing
    gaps between the attempts."""
    receiver.script = [Answer(200, NACK), Answer(503, b"")]
    _salesforce(sandbox, receiver, webhook_retry_seconds=0.2)
    sf.Opportunity.create({"Name": "Retry", "StageName": "Prospecting", "CloseDate":
                           "2027-03-31"})  # fmt: skip
    assert sandbox.webhooks.flush(10)
    first, second, third = receiver.deliveries
    assert first.body == second.body == third.body
    assert second.at - first.at >= 0.15
    assert third.at - second.at >= 0.35  # the gap doubled
    stats = sandbox.webhooks.snapshot()["salesforce"]
    assert (stats["failures"], stats["delivered"], stats["dropped"]) == (2, 1, 0)


def test_stats_endpoint_reports_webhooks(
    sandbox: Sandbox, sandbox_server: SandboxServer, receiver: Receiver
) -> None:
    """GET /_sandbox/stats has the webhook counters per API; DELETE zeroes them."""
    _salesforce(sandbox, receiver)
    customer = sandbox.add_customer("salesforce", "Hooli")
    sandbox.add_deal("salesforce", name="Hooli", customer=customer)
    assert sandbox.webhooks.flush(10)
    url = f"{sandbox_server.url}/_sandbox/stats"
    webhooks = requests.get(url, timeout=5).json()["webhooks"]
    assert webhooks["salesforce"] == {"queued": 1, "delivered": 1, "events_delivered": 1,
                                      "failures": 0, "dropped": 0, "waiting": 0}  # fmt: skip
    assert webhooks["hubspot"]["queued"] == 0
    requests.delete(url, timeout=5)
    assert requests.get(url, timeout=5).json()["webhooks"]["salesforce"]["delivered"] == 0
