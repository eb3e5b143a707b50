"""The HTTP API on SQLite and PostgreSQL: what partners and admins see and do, refusals in
the one error shape, pagination, idempotency, limits and the access log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.api.app import create_app
from sync.partners import block_account
from sync.store import ApiKey, AuditEntry, IdempotentRequest, Payout, PayoutStatus
from tests.sync.api.world import NOW, World, build, settings_for


@pytest.fixture
def world(store: sessionmaker[Session]) -> World:
    return build(store)


def submit(world: World, who: str, name: str, domain: str, **more: Any) -> Any:
    body = {"customer_name": name, "customer_domain": domain, "amount": "2500.00",
            "currency": "USD", **more}  # fmt: skip
    return world.client.post("/v1/registrations", json=body, headers=world.headers(who))


def test_a_partner_submits_for_itself_and_sees_only_its_own(world: World) -> None:
    made = submit(world, "B", "Hooli", "hooli.com")
    assert made.status_code == 201
    registration = made.json()
    assert registration["partner_id"] == "B"
    assert registration["source"] == "api"
    assert registration["amount"] == "2500.00"  # money is a decimal string
    assert registration["decided_by"] is None
    # B lists its own only, asking for A's gives nothing, and A's registration is 404 for
    # B exactly as a registration that does not exist.
    listed = world.client.get("/v1/registrations", headers=world.headers("B")).json()
    assert [r["id"] for r in listed["items"]] == [registration["id"]]
    assert world.client.get("/v1/registrations?partner_id=A",
                            headers=world.headers("B")).json()["items"] == []  # fmt: skip
    theirs = world.client.get(f"/v1/registrations/{world.registration}", headers=world.headers("B"))
    missing = world.client.get("/v1/registrations/999999", headers=world.headers("B"))
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"]["code"] == missing.json()["error"]["code"] == "not_found"
    # A partner key cannot register for another partner.
    other = submit(world, "B", "Pied Piper", "piedpiper.com", partner_id="A")
    assert other.status_code == 422
    assert other.json()["error"]["field"] == "partner_id"


def test_the_holder_is_shown_to_admins_only(world: World) -> None:
    holder = world.client.post(f"/v1/registrations/{world.registration}/approve",
                               headers=world.headers("admin"), json={"reason": "good fit"})  # fmt: skip
    assert holder.status_code == 200
    assert holder.json()["status"] == "approved"
    assert holder.json()["note"] == "good fit"
    rival = submit(world, "B", "INITECH", "buyer@initech.com")
    assert rival.status_code == 201  # held for review, not refused
    assert rival.json()["status"] == "conflict"
    assert rival.json()["reason"] == "conflict"
    assert rival.json()["conflict_with"] is None  # B never learns who holds it
    seen = world.client.get(f"/v1/registrations/{rival.json()['id']}",
                            headers=world.headers("admin")).json()  # fmt: skip
    assert seen["conflict_with"] == world.registration
    # Approving the rival while A holds the customer: 409, the illegal transition named.
    refused = world.client.post(f"/v1/registrations/{rival.json()['id']}/approve",
                                headers=world.headers("admin"))  # fmt: skip
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] in {"conflict", "illegal_transition"}


def test_a_submission_the_rules_refuse_is_422_with_its_reason(world: World) -> None:
    block_account(world.store, domain="umbrella.com", kind="house", actor="test")
    refused = submit(world, "A", "Umbrella Corp", "umbrella.com")
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "house_account"
    assert error["registration"]["status"] == "rejected"  # stored, with its id
    assert "house account" in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"customer_name": "X", "amount": 2500.5}, "amount"),  # a JSON number: never
        ({"customer_name": "X", "amount": "12,50"}, "amount"),
        ({"customer_name": "X", "currency": "usd"}, "currency"),
        ({"customer_name": ""}, "customer_name"),
        ({"customer_name": "X", "close_date": "31/12/2026"}, "close_date"),
        ({"customer_name": "X", "surprise": 1}, "surprise"),
        ({"customer_name": "X'; DROP TABLE registrations; --", "amount": "1e9"}, "amount"),
        ({}, "customer_name"),
    ],
)
def test_a_bad_body_is_422_naming_the_field(world: World, body: dict[str, Any], field: str) -> None:
    response = world.client.post("/v1/registrations", json=body, headers=world.headers("A"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["field"] == field


def test_not_json_and_unknown_routes(world: World) -> None:
    bad = world.client.post("/v1/registrations", content=b"{not json",
                            headers=world.headers("A", **{"Content-Type": "application/json"}))  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid"
    unknown = world.client.get("/v1/nothing-here", headers=world.headers("admin"))
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    wrong = world.client.delete("/v1/registrations", headers=world.headers("admin"))
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_listing_pages_with_a_cursor(world: World) -> None:
    for index in range(5):
        assert (
            submit(world, "B", f"Company {'abcde'[index]}orp", f"c{index}.com").status_code == 201
        )
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = world.client.get(f"/v1/registrations{query}", headers=world.headers("B")).json()
        seen += [r["id"] for r in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert seen == sorted(seen)
    assert pages == 3
    bad = world.client.get("/v1/registrations?cursor=bm9wZQ", headers=world.headers("B"))
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "cursor"
    status = world.client.get("/v1/registrations?status=sideways", headers=world.headers("B"))
    assert status.status_code == 422
    assert status.json()["error"]["field"] == "status"


def test_bulk_pay_with_one_reference_all_or_nothing(world: World) -> None:
    admin = world.headers("admin")
    approved = world.client.post("/v1/payouts/approve", json={"ids": [world.payout]}, headers=admin)
    assert approved.json()["items"][0]["status"] == "approved"
    assert approved.json()["items"][0]["amount"] == "500.00"
    paid = world.client.post("/v1/payouts/pay", headers=admin,
                             json={"ids": [world.payout], "reference": "WIRE-7"})  # fmt: skip
    assert paid.status_code == 200
    assert paid.json()["items"][0]["status"] == "paid"
    assert paid.json()["items"][0]["reference"] == "WIRE-7"
    again = world.client.post("/v1/payouts/pay", headers=admin,
                              json={"ids": [world.payout], "reference": "WIRE-8"})  # fmt: skip
    assert again.status_code == 409
    assert str(world.payout) in again.json()["error"]["message"]  # names the offender
    missing = world.client.post("/v1/payouts/pay", headers=admin,
                                json={"ids": [world.payout, 424242], "reference": "W"})  # fmt: skip
    assert missing.status_code == 404
    assert "424242" in missing.json()["error"]["message"]
    no_reference = world.client.post("/v1/payouts/pay", headers=admin, json={"ids": [1]})
    assert no_reference.status_code == 422
    # A partner sees its own payout, paid; another partner's is 404.
    mine = world.client.get(f"/v1/payouts/{world.payout}", headers=world.headers("A")).json()
    assert mine["status"] == "paid"
    assert [e["kind"] for e in mine["entries"]] == ["accrual"]
    assert (
        world.client.get(f"/v1/payouts/{world.payout}", headers=world.headers("B")).status_code
        == 404
    )
    assert world.client.get("/v1/payouts", headers=world.headers("B")).json()["items"] == []


def test_an_idempotent_bulk_pay_acts_once(world: World) -> None:
    admin = world.headers("admin", **{"Idempotency-Key": "pay-2026-04-batch"})
    world.client.post("/v1/payouts/approve", json={"ids": [world.payout]},
                      headers=world.headers("admin"))  # fmt: skip
    body = {"ids": [world.payout], "reference": "WIRE-9"}
    first = world.client.post("/v1/payouts/pay", json=body, headers=admin)
    with world.store() as session:
        audited = session.scalar(select(func.count()).select_from(AuditEntry))
    second = world.client.post("/v1/payouts/pay", json=body, headers=admin)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    with world.store() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == audited
    reused = world.client.post("/v1/payouts/pay", json={**body, "reference": "OTHER"},
                               headers=admin)  # fmt: skip
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    # The key is the admin key's own: another key with the same header acts afresh.
    other = world.client.post("/v1/payouts/approve", json={"ids": [world.payout]},
                              headers=world.headers("A", **{"Idempotency-Key": "pay-2026-04-batch"}))  # fmt: skip
    assert other.status_code == 403


def test_an_idempotent_submission_replays_its_refusal_too(world: World) -> None:
    headers = world.headers("B", **{"Idempotency-Key": "intake-41"})
    body = {"customer_name": "Massive Dynamic", "customer_domain": "massive.com"}
    first = world.client.post("/v1/registrations", json=body, headers=headers)
    second = world.client.post("/v1/registrations", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    listed = world.client.get("/v1/registrations", headers=world.headers("B")).json()["items"]
    assert len(listed) == 1
    bad_key = world.client.post("/v1/registrations", json=body,
                                headers=world.headers("B", **{"Idempotency-Key": "has space"}))  # fmt: skip
    assert bad_key.status_code == 422
    with world.store() as session:
        stored = session.scalars(select(IdempotentRequest)).all()
    assert [(r.key, r.status) for r in stored] == [("intake-41", 201)]


def test_reports_as_json_and_csv(world: World) -> None:
    admin = world.headers("admin")
    as_json = world.client.get("/v1/reports/payouts-by-status?year=2026", headers=admin)
    assert as_json.status_code == 200
    rows = as_json.json()["rows"]
    assert rows == [{"status": "accrued", "currency": "USD", "flow": "payable", "payouts": 1,
                     "amount": "500.00"}]  # fmt: skip
    as_csv = world.client.get("/v1/reports/payouts-by-status?year=2026",
                              headers={**admin, "Accept": "text/csv"})  # fmt: skip
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines() == [
        "status,currency,flow,payouts,amount",
        "accrued,USD,payable,1,500.00",
    ]
    unknown = world.client.get("/v1/reports/everything", headers=admin)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "name"


def test_the_deal_inspector(world: World) -> None:
    found = world.client.get(f"/v1/deals/salesforce/{world.deal}", headers=world.headers("admin"))
    assert found.status_code == 200
    deal = found.json()
    assert deal["crm_id"] == world.deal
    assert deal["commission"]["net"] == "500.00" or "500.00" in json.dumps(deal["commission"])
    missing = world.client.get("/v1/deals/salesforce/006NOPE", headers=world.headers("admin"))
    assert missing.status_code == 404


def test_keys_are_checked_and_revocation_is_immediate(world: World) -> None:
    from sync.api.keys import create_key, revoke_key

    view, secret = create_key(world.store, partner_id="B", name="portal", actor="test")
    headers = {"Authorization": f"Bearer {secret}"}
    assert world.client.get("/v1/registrations", headers=headers).status_code == 200
    revoke_key(world.store, view["prefix"], actor="test")
    refused = world.client.get("/v1/registrations", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "revoked_key"
    for header in ["Basic dXNlcjpwYXNz", "Bearer", f"Bearer {secret[:-1]}",
                   "Bearer ps_' OR 1=1 --", f"bearer  {secret}x"]:  # fmt: skip
        response = world.client.get("/v1/registrations", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.json()["error"]["code"] in {"malformed_key", "unknown_key"}
    with world.store() as session:
        hashes = session.scalars(select(ApiKey.key_hash)).all()
    assert secret not in hashes  # only a hash is stored


def test_rate_limit_per_key(store: sessionmaker[Session]) -> None:
    world = build(store, settings_for(rate_per_second=0.5, burst=2))
    statuses = [world.client.get("/v1/partners", headers=world.headers("A")).status_code
                for _ in range(3)]  # fmt: skip
    assert statuses == [200, 200, 429]
    limited = world.client.get("/v1/partners", headers=world.headers("A"))
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) >= 1
    # Another key has its own bucket.
    assert world.client.get("/v1/partners", headers=world.headers("B")).status_code == 200


def test_request_size_limit(store: sessionmaker[Session]) -> None:
    world = build(store, settings_for(rate_per_second=0, max_body_bytes=1024))
    big = {"customer_name": "X" * 2000}
    declared = world.client.post("/v1/registrations", json=big, headers=world.headers("A"))
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "too_large"

    def chunks() -> Any:  # no Content-Length: the limit counts what streams in
        yield b'{"customer_name": "'
        for _ in range(10):
            yield b"Y" * 500
        yield b'"}'

    streamed = world.client.post("/v1/registrations", content=chunks(),
                                 headers=world.headers("A", **{"Content-Type": "application/json"}))  # fmt: skip
    assert streamed.status_code == 413
    with world.store() as session:  # nothing of it was acted on
        assert session.scalar(select(func.count()).select_from(Payout)) == 1


def test_the_access_log_names_the_key_by_prefix_only(world: World) -> None:
    secret = world.keys["A"].removeprefix("Bearer ")
    with structlog.testing.capture_logs() as logs:
        world.client.get("/v1/registrations", headers=world.headers("A"))
        world.client.get("/v1/registrations", headers=world.headers("malformed"))
    lines = [e for e in logs if e["event"] == "api.request"]
    assert [(e["route"], e["status"]) for e in lines] == [("/v1/registrations", 200),
                                                          ("/v1/registrations", 401)]  # fmt: skip
    assert lines[0]["key"] == secret[:11]
    assert lines[0]["ms"] >= 0
    assert secret not in repr(logs)


def test_health(world: World) -> None:
    assert world.client.get("/healthz").json() == {
        "status": "ok", "store": "ok", "broker": "in-process",
        "lag_seconds": {"salesforce": None}}  # never pulled: its deals were stored directly  # fmt: skip
    assert world.client.get("/openapi.json").json()["paths"]["/v1/registrations"]
    assert NOW.year == 2026
    assert PayoutStatus.PAID.value == "paid"
    assert create_app  # the factory is importable without a running server


def test_a_process_works_on_at_most_api_threads_requests_at_once(
    store: sessionmaker[Session],
) -> None:
    """[api] threads bounds the requests in their threads at once; the others wait their
    turn and are all answered."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from sync.api.serve import serving

    app = create_app(settings_for(rate_per_second=0, threads=2), factory=store)
    lock = threading.Lock()
    running, most = [0], [0]

    @app.get("/slow")
    def slow() -> dict[str, int]:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return {"ok": 1}

    with serving(app) as base, ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda _: httpx.get(f"{base}/slow", timeout=30).status_code,
                                 range(6)))  # fmt: skip
    assert statuses == [200] * 6
    assert most[0] == 2


def test_the_served_app_keeps_what_it_holds_at_start_out_of_full_collections(
    tmp_path: Path,
) -> None:
    """What ``partnersync api`` hands uvicorn (built in each server process) is an app over
    the settings' store, and what the process holds by then is frozen for the collector."""
    (tmp_path / "settings.toml").write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    env.update(PARTNERSYNC_SETTINGS=str(tmp_path / "settings.toml"),
               PARTNERSYNC_STORE__URL=f"sqlite:///{tmp_path / 'store.db'}")  # fmt: skip
    script = ("import gc; from fastapi import FastAPI; from sync.api.serve import app; "
              "built = app(); print(isinstance(built, FastAPI), gc.get_freeze_count() > 1000)")  # fmt: skip
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True"]
