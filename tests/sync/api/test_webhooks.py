"""Webhooks: HubSpot's v3 signature (valid, tampered body, tampered URI, stale, future,
wrong secret, replayed, no secret), Salesforce Outbound Messages (Ack, wrong org, not
one), and what an accepted one sets off: a pull triggered once, a deleted deal marked at
once (the real daemon over the store and the sandbox; the queue is the recorder)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hubspot.utils.signature import Signature
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer
from sync.api.app import create_app
from sync.api.webhooks import hubspot_signature, outbound_ack
from sync.crm import CrmLink
from sync.daemon import Daemon
from sync.mirror.pull import PullReport, note_hints, pull
from sync.settings import Settings
from sync.store import Crm, PullHint
from tests.sync.links import LINKS, edit_in_crm, hubspot, mirrored

SECRET = "s3cret-app-secret"
ORG = "00D5g000004ABCDEAA"
HOOK = "/v1/webhooks/hubspot"


def test_the_signature_matches_hubspots_test_vector() -> None:
    signed = hubspot_signature("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", "POST",
                               "https://www.example.com/webhook_uri",
                               b"{'example_field':'example_value'}", "1693657560000")  # fmt: skip
    assert signed == "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y="


def test_hubspots_own_client_agrees_with_the_signature() -> None:
    body = json.dumps([{"objectId": 1, "subscriptionType": "deal.creation"}])
    timestamp = str(int(time.time() * 1000))
    uri = "https://hooks.example.com/v1/webhooks/hubspot?portal=42"
    signed = hubspot_signature(SECRET, "POST", uri, body.encode(), timestamp)
    assert Signature.is_valid(signature=signed, client_secret=SECRET, request_body=body,
                              http_uri=uri, http_method="POST", signature_version="v3",
                              timestamp=timestamp)  # fmt: skip


@dataclass
class Hooked:
    client: TestClient
    sent: list[tuple[str, ...]]
    store: sessionmaker[Session]
    sandbox: Sandbox
    now: list[datetime]
    daemon: Daemon

    def post(self, events: Any = None, *, body: bytes | None = None, secret: str = SECRET,
             path: str = HOOK, signed_path: str | None = None, age: timedelta = timedelta(0),
             timestamp: str | None = None) -> Any:  # fmt: skip
        raw = body if body is not None else json.dumps(events or [
            {"objectId": 7, "subscriptionType": "deal.propertyChange", "propertyName": "amount",
             "propertyValue": "10", "occurredAt": 1}]).encode()  # fmt: skip
        stamp = timestamp or str(int((self.now[0] - age).timestamp() * 1000))
        uri = "http://testserver" + (signed_path or path)
        headers = {
            "X-HubSpot-Signature-v3": hubspot_signature(secret, "POST", uri, raw, stamp),
            "X-HubSpot-Request-Timestamp": stamp,
            "Content-Type": "application/json",
        }
        return self.client.post(path, content=raw, headers=headers)


def settings_with(**changes: Any) -> Settings:
    base = Settings()
    return base.model_copy(update={
        "hubspot": base.hubspot.model_copy(update={"client_secret": SecretStr(SECRET)}),
        "salesforce": base.salesforce.model_copy(update={"organization_id": ORG}),
        **changes,
    })  # fmt: skip


@pytest.fixture
def hooked(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> Iterator[Hooked]:
    """The API with webhooks on, its daemon over the sandbox's HubSpot (mirrored once)."""
    _, mapping, seed = LINKS["hubspot"]
    seed(sandbox, 5)
    settings = settings_with()
    sent: list[tuple[str, ...]] = []
    now = [datetime.now(UTC)]
    daemon = Daemon(settings, store, send=lambda job, *args: sent.append((job, *args)),
                    configured=[CrmLink(hubspot(sandbox_server), mapping)],
                    clock=lambda: now[0])  # fmt: skip
    daemon.cycle.pull(daemon.cycle.link("hubspot"))
    app = create_app(settings, factory=store, clock=lambda: now[0], hooks=lambda: daemon)
    with TestClient(app) as client:
        yield Hooked(client, sent, store, sandbox, now, daemon)


def test_a_signed_event_triggers_one_pull(hooked: Hooked) -> None:
    first = hooked.post()
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 1, "deleted": 0, "pull": "queued"}
    hooked.now[0] += timedelta(seconds=1)
    again = hooked.post()  # another event before the pull ran: folded into it
    assert again.json()["pull"] == "folded into a waiting pull"
    assert hooked.sent == [("pull", "hubspot")]


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        pytest.param({"secret": "not-the-secret"}, "bad_signature", id="wrong-secret"),
        pytest.param({"signed_path": HOOK + "?portal=1"}, "bad_signature", id="tampered-uri"),
        pytest.param({"signed_path": "/v1/webhooks/other"}, "bad_signature", id="other-path"),
        pytest.param({"age": timedelta(minutes=5, seconds=1)}, "stale_signature", id="stale"),
        pytest.param({"age": -timedelta(minutes=5, seconds=1)}, "stale_signature", id="future"),
        pytest.param({"timestamp": "yesterday"}, "stale_signature", id="not-a-timestamp"),
    ],
)
def test_a_bad_signature_is_refused_and_sets_nothing_off(
    hooked: Hooked, tamper: dict[str, Any], code: str
) -> None:
    refused = hooked.post(**tamper)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == code
    assert hooked.sent == []


def test_a_tampered_body_is_refused(hooked: Hooked) -> None:
    raw = json.dumps([{"objectId": 7, "subscriptionType": "deal.creation"}]).encode()
    stamp = str(int(hooked.now[0].timestamp() * 1000))
    signed = hubspot_signature(SECRET, "POST", "http://testserver" + HOOK, raw, stamp)
    tampered = raw.replace(b"7", b"8")
    refused = hooked.client.post(HOOK, content=tampered, headers={
        "X-HubSpot-Signature-v3": signed, "X-HubSpot-Request-Timestamp": stamp})  # fmt: skip
    assert refused.status_code == 401
    assert hooked.sent == []


def test_a_replayed_request_is_refused(hooked: Hooked) -> None:
    raw = json.dumps([{"objectId": 7, "subscriptionType": "deal.creation"}]).encode()
    stamp = str(int(hooked.now[0].timestamp() * 1000))
    headers = {"X-HubSpot-Signature-v3": hubspot_signature(SECRET, "POST", "http://testserver"
                                                           + HOOK, raw, stamp),
               "X-HubSpot-Request-Timestamp": stamp}  # fmt: skip
    assert hooked.client.post(HOOK, content=raw, headers=headers).status_code == 200
    replayed = hooked.client.post(HOOK, content=raw, headers=headers)
    assert replayed.status_code == 409
    assert replayed.json()["error"]["code"] == "replayed"


def test_unsigned_or_unconfigured_is_refused(store: sessionmaker[Session]) -> None:
    app = create_app(Settings(), factory=store, hooks=lambda: None)
    with TestClient(app) as client:
        response = client.post(
            HOOK,
            json=[],
            headers={"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": "1"},
        )
    assert response.status_code == 401
    assert "[hubspot] client_secret" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param(b"not json", "not JSON", id="not-json"),
        pytest.param(b'{"objectId": 1}', "JSON array", id="not-an-array"),
        pytest.param(json.dumps([{"objectId": i} for i in range(101)]).encode(), "at most 100",
                     id="too-many"),
    ],
)  # fmt: skip
def test_a_signed_body_that_is_no_event_list_is_422(hooked: Hooked, body: bytes, says: str) -> None:
    refused = hooked.post(body=body)
    assert refused.status_code == 422
    assert says in refused.json()["error"]["message"]
    assert hooked.sent == []


def test_the_uri_is_the_public_one_behind_a_proxy(store: sessionmaker[Session]) -> None:
    """HubSpot signed https://hooks.example.com/...: with [api] public_url set, that URL
    is checked (with HubSpot's few decoded escapes), not the proxy's http://testserver."""
    settings = settings_with()
    settings = settings.model_copy(update={"api": settings.api.model_copy(
        update={"public_url": "https://hooks.example.com"})})  # fmt: skip
    sent: list[str] = []

    class Hooks:
        def trigger(self, job: str, *args: str) -> bool:
            sent.append(job)
            return True

        def deleted(self, crm: str, crm_ids: list[str]) -> list[str]:
            return []

        def changed(self, crm: str, crm_ids: list[str]) -> bool:
            return self.trigger("pull", crm)

        def own_writes(self, crm: str, changes: list[tuple[str, str, Any]]) -> list[bool]:
            return [False] * len(changes)

    app = create_app(settings, factory=store, hooks=Hooks)
    raw = b'[{"objectId": 1, "subscriptionType": "deal.creation"}]'
    stamp = str(int(time.time() * 1000))
    public = "https://hooks.example.com/v1/webhooks/hubspot?from=a:b@c"
    with TestClient(app) as client:
        ok = client.post(HOOK + "?from=a%3Ab%40c", content=raw, headers={
            "X-HubSpot-Signature-v3": hubspot_signature(SECRET, "POST", public, raw, stamp),
            "X-HubSpot-Request-Timestamp": stamp})  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert sent == ["pull"]


def test_a_deletion_event_marks_the_deal_deleted_at_once(hooked: Hooked) -> None:
    """No waiting for the archived listing: the deal is deleted in the store now (its
    deletion staged like a pull's) and a push triggered; nothing is left to read: no pull."""
    deal = sorted(mirrored(hooked.store, "hubspot"))[0]
    response = hooked.post([{"objectId": int(deal), "subscriptionType": "deal.deletion"},
                            {"objectId": 999999, "eventType": "deal.deletion"}])  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["deleted"] == 1  # the unknown one changes nothing
    assert mirrored(hooked.store, "hubspot")[deal].deleted is True
    assert hooked.sent == [("push", "hubspot")]  # nothing else to read: no pull


def test_a_changed_deal_is_read_by_id_before_the_search_index_shows_it(
    hooked: Hooked,
) -> None:
    """HubSpot's search lags writes: the deal a webhook names is read by id at the start of
    the pull, and the lagging search's older version of it after that changes nothing."""
    daemon = hooked.daemon
    deal = sorted(mirrored(hooked.store, "hubspot"))[0]
    edit_in_crm(hooked.sandbox, "hubspot", deal, {"amount": "1234"})
    daemon.pull("hubspot")  # the search shows it (no lag yet): stored, recently modified
    assert mirrored(hooked.store, "hubspot")[deal].amount == Decimal("1234")
    hooked.sandbox.reconfigure(search_lag_seconds=600)
    edit_in_crm(hooked.sandbox, "hubspot", deal, {"amount": "5678"})
    hooked.now[0] += timedelta(seconds=1)
    assert hooked.post([{"objectId": int(deal), "subscriptionType": "deal.propertyChange",
                         "propertyName": "amount"}]).status_code == 200  # fmt: skip
    with hooked.store() as session:
        assert session.scalars(select(PullHint.crm_id)).all() == [deal]
    run = daemon.pull("hubspot")
    assert run.report is not None
    assert run.report["hinted"] == 1
    # The search (10 s lookback) brought the 1234 version again: older, so skipped.
    assert mirrored(hooked.store, "hubspot")[deal].amount == Decimal("5678")
    with hooked.store() as session:
        assert session.scalars(select(PullHint.crm_id)).all() == []  # read: forgotten
    assert daemon.pull("hubspot").report["hinted"] == 0  # type: ignore[index]
    # A hint older than the lookback: the search shows its change by now; dropped unread.
    note_hints(hooked.store, Crm.HUBSPOT, [deal], datetime.now(UTC) - timedelta(minutes=1))
    assert daemon.pull("hubspot").report["hinted"] == 0  # type: ignore[index]
    with hooked.store() as session:
        assert session.scalars(select(PullHint.crm_id)).all() == []


def three_pages_changed(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> tuple[Any, Any, list[str]]:
    """450 HubSpot deals mirrored, then each changed: an incremental read of three search
    pages. The connector, the mapping and the deal ids in order."""
    connect, mapping, seed = LINKS["hubspot"]
    seed(sandbox, 450)
    connector = connect(sandbox_server)
    pull(store, connector, mapping)
    deals = sorted(mirrored(store, "hubspot"), key=int)
    for deal in deals:
        edit_in_crm(sandbox, "hubspot", deal, {"amount": "1000"})
    return connector, mapping, deals


def test_a_deal_named_while_a_long_pull_runs_is_read_after_its_next_commit(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A webhook during a pull of many pages: its deal is read by id once the pull's
    current transaction commits, not after the whole pull (nor the next one)."""
    connector, mapping, deals = three_pages_changed(sandbox, sandbox_server, store)
    named = deals[0]
    commits: list[int] = []

    def webhook_meanwhile(report: PullReport) -> None:
        commits.append(report.hinted)
        if len(commits) == 1:  # after the first of three pages: lagging, then changed
            sandbox.reconfigure(search_lag_seconds=600)
            edit_in_crm(sandbox, "hubspot", named, {"amount": "2222"})
            note_hints(store, Crm.HUBSPOT, [named], datetime.now(UTC))

    report = pull(store, connector, mapping, on_page=webhook_meanwhile, commit_records=1)
    assert commits[:2] == [0, 1]  # read at the very next commit
    assert report.hinted == 1
    assert mirrored(store, "hubspot")[named].amount == Decimal("2222")
    assert mirrored(store, "hubspot")[deals[-1]].amount == Decimal("1000")


def test_our_own_writes_coming_back_trigger_no_pull(hooked: Hooked) -> None:
    """The push writes a deal's field; HubSpot's event for that write (the value we wrote)
    needs no pull, a rep's different value in the same field does."""
    from sync.store import Opportunity, transaction
    from sync.writeback.outbox import stage

    deal = sorted(mirrored(hooked.store, "hubspot"))[0]
    with transaction(hooked.store) as session:
        row = session.scalars(select(Opportunity).where(Opportunity.crm_id == deal)).one()
        stage(session, row, {"registration.reason": "first come"})
    hooked.daemon.push("hubspot")
    field = LINKS["hubspot"][1].outbound_for("registration.reason")
    assert field is not None
    record = hooked.sandbox.hubspot.get("deals", deal)
    assert record is not None
    held = record["properties"][field.crm_field]
    assert held == "first come"
    hooked.sent.clear()

    def event(value: str) -> dict[str, Any]:
        return {"objectId": int(deal), "subscriptionType": "deal.propertyChange",
                "propertyName": field.crm_field, "propertyValue": value,
                "changeSource": "INTEGRATION"}  # fmt: skip

    echo = hooked.post([event(held)])
    assert echo.json()["pull"] == "not needed"
    assert hooked.sent == []
    hooked.now[0] += timedelta(seconds=1)
    rep = hooked.post([event(held), event("overwritten by a rep")])
    assert rep.json()["pull"] == "queued"
    assert hooked.sent == [("pull", "hubspot")]


@pytest.mark.postgres
@pytest.mark.parametrize("dialect", ["postgres"], indirect=True)
def test_a_hint_noted_mid_transaction_commits_it_early(
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    store: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pages share a transaction (up to 10,000 records or 2 s); a hint noted meanwhile
    ends it at the next page, so the named deal is read then, not at its end. (PostgreSQL:
    on SQLite the webhook's write waits for that transaction's commit anyway.)"""
    import sync.mirror.pull as pulling

    monkeypatch.setattr(pulling, "_HINT_CHECK", 0.0)
    connector, mapping, deals = three_pages_changed(sandbox, sandbox_server, store)
    commits: list[tuple[int, int]] = []

    def webhook_meanwhile(report: PullReport) -> None:
        if report.pages == 1:
            note_hints(store, Crm.HUBSPOT, [deals[-1]], datetime.now(UTC))

    report = pull(store, connector, mapping, on_progress=webhook_meanwhile,
                  on_page=lambda r: commits.append((r.pages, r.hinted)))  # fmt: skip
    # Without the hint one transaction would hold all three pages (450 records, under
    # 2 s); with it, the first commits after the page during which it came, and the deal
    # is read right then.
    assert commits[0] == (1, 1)
    assert commits[-1] == (3, 1)
    assert report.hinted == 1


def test_without_the_read_by_id_the_lagging_search_misses_the_change(
    hooked: Hooked,
) -> None:
    """The reason for the hints: the same change, pulled without a webhook, is not seen
    until the index catches up (the lookback then brings it)."""
    daemon = hooked.daemon
    deal = sorted(mirrored(hooked.store, "hubspot"))[0]
    hooked.sandbox.reconfigure(search_lag_seconds=600)
    before = mirrored(hooked.store, "hubspot")[deal].amount
    edit_in_crm(hooked.sandbox, "hubspot", deal, {"amount": "5678"})
    daemon.pull("hubspot")
    assert mirrored(hooked.store, "hubspot")[deal].amount == before


# --- Salesforce Outbound Messages ---------------------------------------------------------


def outbound(org: str = ORG, ids: tuple[str, ...] = ("006000000000001AAA",)) -> bytes:
    notes = "".join(
        f'<Notification><Id>04l00000000000{i}AAA</Id><sObject xsi:type="sf:Opportunity" '
        f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{record}</sf:Id>'
        "<sf:StageName>Closed Won</sf:StageName></sObject></Notification>"
        for i, record in enumerate(ids)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
        '<SessionId xsi:nil="true"/><EnterpriseUrl>https://x.my.salesforce.com/</EnterpriseUrl>'
        f"<PartnerUrl>https://x.my.salesforce.com/</PartnerUrl>{notes}</notifications>"
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_an_outbound_message_is_acknowledged_and_triggers_a_pull(hooked: Hooked) -> None:
    for org in (ORG, ORG[:15]):  # the 15-character form is the same org
        response = hooked.client.post("/v1/webhooks/salesforce", content=outbound(org),
                                      headers={"Content-Type": "text/xml"})  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/xml")
        assert response.text == outbound_ack()
        assert "<Ack>true</Ack>" in response.text
    assert hooked.sent == [("pull", "salesforce")]  # the second was folded in


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        pytest.param(outbound("00D5g000009ZZZZAAA"), 403, "wrong_organization", id="other-org"),
        pytest.param(b"<nope", 422, "invalid", id="not-xml"),
        pytest.param(b"<a/>", 422, "invalid", id="not-an-outbound-message"),
        pytest.param(b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', 422,
                     "invalid", id="doctype"),
        pytest.param(outbound(ids=tuple(f"006{i:015d}" for i in range(101))), 422, "invalid",
                     id="too-many"),
    ],
)  # fmt: skip
def test_a_bad_outbound_message_is_refused(
    hooked: Hooked, body: bytes, status: int, code: str
) -> None:
    response = hooked.client.post("/v1/webhooks/salesforce", content=body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert hooked.sent == []


def test_without_an_org_configured_no_outbound_message_is_taken(
    store: sessionmaker[Session],
) -> None:
    app = create_app(Settings(), factory=store, hooks=lambda: None)
    with TestClient(app) as client:
        response = client.post("/v1/webhooks/salesforce", content=outbound())
    assert response.status_code == 403


def test_with_the_in_process_queue_the_api_alone_says_it_cannot_pull(
    store: sessionmaker[Session],
) -> None:
    app = create_app(settings_with(), factory=store)  # [queue] broker = "memory"
    with TestClient(app) as client:
        response = client.post("/v1/webhooks/salesforce", content=outbound())
    assert response.status_code == 503
    assert "partnersync run" in response.json()["error"]["message"]
