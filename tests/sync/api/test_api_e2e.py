"""The API end to end: a partner key submits and an admin key approves; the sandbox CRM
shows the status after a push (both CRMs, both stores). The same flow through the command
line and through the API leaves the same rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer
from sync.api.app import create_app
from sync.api.keys import create_key
from sync.store import AuditEntry, Registration, make_engine, session_factory
from tests.sync.cli.test_cli import run_cli
from tests.sync.test_registration_e2e import crm_shows, set_up, shown


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_partner_submits_admin_approves_and_the_crm_shows_it(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    cycle, mapping, deals = set_up(crm, sandbox, sandbox_server, store, register_from_crm=False)
    partner = "Bearer " + create_key(store, partner_id="ACME", actor="test")[1]
    admin = "Bearer " + create_key(store, admin=True, actor="test")[1]
    client = TestClient(create_app(cycle.settings, factory=store))
    made = client.post("/v1/registrations", headers={"Authorization": partner}, json={
        "customer_name": "Globex Industries", "customer_domain": "globex-industries.com",
        "amount": "25000", "currency": "USD",
    })  # fmt: skip
    assert made.status_code == 201, made.text
    assert made.json()["opportunity_id"] is not None  # linked to ACME's deal on Globex
    approved = client.post(f"/v1/registrations/{made.json()['id']}/approve",
                           headers={"Authorization": admin}, json={"reason": "first in"})  # fmt: skip
    assert approved.status_code == 200
    cycle.run()
    status = "registration.status"
    assert crm_shows(sandbox, crm, mapping, deals["ACME"], status) == shown(
        mapping, status, "approved"
    )
    until = crm_shows(sandbox, crm, mapping, deals["ACME"], "registration.protected_until")
    assert str(until)[:10] == approved.json()["protected_until"]
    with store() as session:  # the audit trail names the keys that acted
        actors = session.scalars(select(AuditEntry.actor)
                                 .where(AuditEntry.entity_kind == "registration")).all()  # fmt: skip
    assert any(a.startswith("api:ps_") and a.endswith(":ACME") for a in actors)
    assert any(a.startswith("api:ps_") and a.endswith(":admin") for a in actors)


def _rows(url: str) -> list[dict[str, Any]]:
    """The registrations as stored, without what differs by nature (ids, instants, who)."""
    engine = make_engine(url)
    with session_factory(engine)() as session:
        found = session.scalars(select(Registration).order_by(Registration.id)).all()
        out = [
            {c: getattr(r, c) for c in ("partner_id", "customer_name", "customer_domain",
             "customer_name_key", "customer_domain_key", "status", "reason", "protected_until",
             "amount", "currency", "practice", "close_date", "extensions_used", "note")}
            for r in found
        ]  # fmt: skip
    engine.dispose()
    return out


def test_the_cli_and_the_api_leave_the_same_rows(tmp_path: Path) -> None:
    """Partners, a submission, a rival's, an approval and a withdrawal: once through the
    command line, once through the API, on two stores."""
    stores = {}
    for way in ("cli", "api"):
        folder = tmp_path / way
        folder.mkdir()
        stores[way] = f"sqlite:///{folder / 'ps.db'}"
        (folder / "settings.toml").write_text(f'[store]\nurl = "{stores[way]}"\n')
        for partner, tier in (("ACME", "gold"), ("BLUEFIN", "silver")):
            added = run_cli("partners", "add", partner, "--name", partner.title(), "--tier", tier,
                            cwd=folder)  # fmt: skip
            assert added.returncode == 0, added.stderr
    cli = tmp_path / "cli"
    steps = [
        ("registrations", "submit", "--partner", "ACME", "--customer", "Globex Industries",
         "--domain", "globex.com", "--amount", "25000"),
        ("registrations", "submit", "--partner", "BLUEFIN", "--customer", "GLOBEX",
         "--domain", "www.globex.com", "--amount", "18000"),
        ("registrations", "approve", "1", "--reason", "first in"),
        ("registrations", "withdraw", "2", "--reason", "lost interest"),
    ]  # fmt: skip
    for step in steps:
        done = run_cli(*step, "--format", "json", cwd=cli)
        assert done.returncode == 0, done.stderr
        json.loads(done.stdout)

    url = stores["api"]
    engine = make_engine(url)
    factory = session_factory(engine)
    from sync.settings import Settings

    settings = Settings(store={"url": url})
    keys = {
        p: "Bearer " + create_key(factory, partner_id=p, actor="t")[1] for p in ("ACME", "BLUEFIN")
    }
    keys["admin"] = "Bearer " + create_key(factory, admin=True, actor="t")[1]
    client = TestClient(create_app(settings, factory=factory))

    def post(who: str, path: str, body: dict[str, Any]) -> None:
        response = client.post(path, json=body, headers={"Authorization": keys[who]})
        assert response.status_code in (200, 201), response.text

    post("ACME", "/v1/registrations", {"customer_name": "Globex Industries",
                                       "customer_domain": "globex.com", "amount": "25000",
                                       "currency": "USD"})  # fmt: skip
    post("BLUEFIN", "/v1/registrations", {"customer_name": "GLOBEX",
                                          "customer_domain": "www.globex.com", "amount": "18000",
                                          "currency": "USD"})  # fmt: skip
    post("admin", "/v1/registrations/1/approve", {"reason": "first in"})
    post("BLUEFIN", "/v1/registrations/2/withdraw", {"reason": "lost interest"})
    engine.dispose()
    assert _rows(stores["cli"]) == _rows(stores["api"])
    assert [r["status"] for r in _rows(stores["api"])] == ["approved", "rejected"]
