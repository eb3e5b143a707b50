"""Operations: GET /metrics (Prometheus) and GET /healthz report what the daemon did, read
from the store: the real daemon over the sandbox, SQLite and PostgreSQL, a real Redis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer
from sync.api.app import create_app
from sync.crm import CrmLink
from sync.daemon import Daemon
from sync.settings import Settings
from sync.status import facts
from tests.conftest import REDIS_URL
from tests.sync.links import LINKS
from tests.sync.test_daemon import a_partners_deal


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_and_health_show_what_the_daemon_did(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    deals = {crm: a_partners_deal(crm, sandbox, store) for crm in ("salesforce", "hubspot")}
    links = [CrmLink(LINKS[crm][0](sandbox_server), LINKS[crm][1]) for crm in deals]
    now = [datetime.now(UTC)]
    daemon = Daemon(Settings(), store, send=lambda *_: None, configured=links,
                    clock=lambda: now[0])  # fmt: skip
    for crm in deals:
        daemon.pull(crm)
    daemon.pull("salesforce")  # a second pull: the counters add up
    daemon.push("salesforce")  # hubspot's write waits in the outbox
    now[0] += timedelta(seconds=30)
    app = create_app(Settings(), factory=store, clock=lambda: now[0])
    with TestClient(app) as client:
        scraped = client.get("/metrics")
        health = client.get("/healthz").json()
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    got = samples(scraped.text)
    known = facts(store)
    pulls = known.job("pull:salesforce")
    assert pulls is not None
    assert pulls.runs == 2
    assert got[("partnersync_job_runs_total", (("job", "pull:salesforce"),))] == 2
    assert got[("partnersync_records_pulled_total", (("crm", "salesforce"),))] == 6 + 1
    assert got[("partnersync_records_pulled_total", (("crm", "hubspot"),))] == 6
    assert got[("partnersync_records_pushed_total", (("crm", "salesforce"),))] == 1
    calls: Any = got[("partnersync_api_calls_total", (("crm", "hubspot"), ("job", "pull")))]
    assert calls >= 1
    endpoints = {dict(labels)["endpoint"]: v for (name, labels), v in got.items()
                 if name == "partnersync_api_endpoint_calls_total"
                 and dict(labels)["crm"] == "hubspot"}  # fmt: skip
    assert endpoints["deals/list"] >= 1  # the first pull lists every deal
    # Every call has its endpoint, none twice; the mapping's check (describes) is the
    # job's, outside the pull's own count.
    assert sum(endpoints.values()) == calls + endpoints["properties"]
    sf_endpoints = {dict(labels)["endpoint"] for (name, labels) in got
                    if name == "partnersync_api_endpoint_calls_total"
                    and dict(labels)["crm"] == "salesforce"}  # fmt: skip
    assert {"query", "composite/sobjects PATCH"} <= sf_endpoints
    assert "other" not in sf_endpoints | set(endpoints)
    backlog = {labels: v for (name, labels), v in got.items()
               if name == "partnersync_outbox_backlog"}  # fmt: skip
    assert backlog[(("crm", "hubspot"), ("status", "pending"))] == 1
    assert backlog[(("crm", "salesforce"), ("status", "pending"))] == 0
    assert got[("partnersync_sync_lag_seconds", (("crm", "hubspot"),))] == pytest.approx(30)
    assert (
        got[("partnersync_job_last_outcome", (("job", "push:salesforce"), ("outcome", "ok")))] == 1
    )
    assert got[("partnersync_quarantine_records", (("crm", "salesforce"),))] == 0
    assert health == {"status": "ok", "store": "ok", "broker": "in-process",
                      "lag_seconds": {"hubspot": 30.0, "salesforce": 30.0}}  # fmt: skip


def test_health_checks_a_redis_broker(store: sessionmaker[Session]) -> None:
    base = Settings()
    for url, status, broker in ((REDIS_URL, 200, "ok"), ("redis://127.0.0.1:1/0", 503, None)):
        settings = base.model_copy(update={"queue": base.queue.model_copy(update={"broker": url})})
        with TestClient(create_app(settings, factory=store)) as client:
            answer = client.get("/healthz")
        assert answer.status_code == status
        if broker:
            assert answer.json()["broker"] == broker
        else:
            assert answer.json()["error"]["code"] == "broker_unavailable"
