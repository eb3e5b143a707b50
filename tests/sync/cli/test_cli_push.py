"""``partnersync push``, ``push --status``, ``mappings preview`` and ``sync`` on a served sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import Sandbox, SandboxServer, seed_hubspot, seed_salesforce
from sync.store import OutboxEntry, OutboxStatus, make_engine, session_factory
from tests.sync.cli.test_cli import run_cli
from tests.sync.writeback.test_push import open_rows, stage_all


def _env(server: SandboxServer, store_url: str) -> dict[str, str]:
    return {
        "PARTNERSYNC_STORE__URL": store_url,
        "PARTNERSYNC_SALESFORCE__INSTANCE_URL": server.url,
        "PARTNERSYNC_HUBSPOT__BASE_URL": server.url,
    }


def _factory(url: str) -> sessionmaker[Session]:
    return session_factory(make_engine(url))


def test_preview_push_and_status_from_the_command_line(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """Pull only, stage, preview (writes nothing), push, then the queue is empty."""
    seed_salesforce(sandbox, 40)
    seed_hubspot(sandbox, 30)
    store_url = f"sqlite:///{tmp_path / 'ps.db'}"
    env = _env(sandbox_server, store_url)
    repo = Path(__file__).resolve().parents[3]
    pulled = run_cli("sync", "--no-push", "--format", "json", cwd=repo, env=env)
    assert pulled.returncode == 0, pulled.stderr
    cycle_report = json.loads(pulled.stdout)
    assert [r["upserted"] for r in cycle_report["pull"]] == [40, 30]
    assert cycle_report["push"] == []

    factory = _factory(store_url)
    stage_all(factory, "salesforce")
    stage_all(factory, "hubspot")
    sandbox.stats.reset()

    preview = run_cli(
        "mappings", "preview", "--crm", "salesforce", "--limit", "2", "--format", "json",
        cwd=repo, env=env,
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    rows = json.loads(preview.stdout)
    assert len({r["record"] for r in rows}) == 2
    assert {r["field"] for r in rows} == {
        "Registration_Status__c", "Protected_Until__c", "Commission_Accrued__c",
        "Payout_Reference__c",
    }  # fmt: skip
    assert {r["new_value"] for r in rows if r["field"] == "Registration_Status__c"} == {"Approved"}
    assert sandbox.stats.count() == 0

    status = run_cli("push", "--status", "--format", "json", cwd=repo, env=env)
    assert status.returncode == 0, status.stderr
    queue = {q["crm"]: q for q in json.loads(status.stdout)["queue"]}
    assert (queue["salesforce"]["pending"], queue["hubspot"]["pending"]) == (40, 30)

    pushed = run_cli("push", "--format", "json", cwd=repo, env=env)
    assert pushed.returncode == 0, pushed.stderr
    reports = {r["crm"]: r for r in json.loads(pushed.stdout)}
    assert (reports["salesforce"]["api_calls"], reports["salesforce"]["done"]) == (1, 40)
    assert (reports["hubspot"]["api_calls"], reports["hubspot"]["done"]) == (1, 30)
    assert open_rows(factory, "salesforce") == open_rows(factory, "hubspot") == 0

    # A full cycle now: the pull sees only our own writes, so the push has nothing to do.
    cycle = run_cli("sync", "--format", "json", cwd=repo, env=env)
    assert cycle.returncode == 0, cycle.stderr
    report = json.loads(cycle.stdout)
    assert [r["drifted"] for r in report["pull"]] == [0, 0]
    assert [(r["sent"], r["api_calls"]) for r in report["push"]] == [(0, 0), (0, 0)]
    assert "write(s) rejected" not in cycle.stderr
    csv = run_cli("sync", "--format", "csv", cwd=repo, env=env)
    assert csv.returncode == 0, csv.stderr
    assert csv.stdout.startswith("crm,object,full,pages,read,")
    empty = run_cli("mappings", "preview", "--format", "json", cwd=repo, env=env)
    assert json.loads(empty.stdout) == []


def test_push_with_an_unreachable_crm_fails_cleanly(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """A CRM that cannot be reached is a one-line failure; the queue keeps its rows."""
    seed_salesforce(sandbox, 5)
    store_url = f"sqlite:///{tmp_path / 'ps.db'}"
    env = _env(sandbox_server, store_url)
    repo = Path(__file__).resolve().parents[3]
    assert run_cli("sync", "--crm", "salesforce", cwd=repo, env=env).returncode == 0
    factory = _factory(store_url)
    stage_all(factory, "salesforce")
    env["PARTNERSYNC_SALESFORCE__SESSION_ID"] = "not-a-session"
    refused = run_cli("push", "--crm", "salesforce", cwd=repo, env=env)
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr
    assert "not-a-session" not in refused.stderr
    assert open_rows(factory, "salesforce") == 5


def test_drift_shows_in_the_audit_log(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """A hand edit in HubSpot: `sync` restores it, `audit` names the field and the user."""
    seed_hubspot(sandbox, 10)
    store_url = f"sqlite:///{tmp_path / 'ps.db'}"
    env = _env(sandbox_server, store_url)
    repo = Path(__file__).resolve().parents[3]
    assert run_cli("sync", "--crm", "hubspot", cwd=repo, env=env).returncode == 0
    stage_all(_factory(store_url), "hubspot")
    assert run_cli("push", "--crm", "hubspot", cwd=repo, env=env).returncode == 0
    deal = sorted(str(i) for i in sandbox.hubspot.table("deals")._by_id)[2]
    sandbox.hubspot.update("deals", deal, {"payout_reference": "typo"}, by_user=77)

    cycle = run_cli("sync", "--crm", "hubspot", "--format", "json", cwd=repo, env=env)
    assert cycle.returncode == 0, cycle.stderr
    report = json.loads(cycle.stdout)
    assert report["pull"][0]["drifted"] == 1
    assert (report["push"][0]["sent"], report["push"][0]["api_calls"]) == (1, 1)
    record = sandbox.hubspot.get("deals", deal)
    assert record is not None
    assert record["properties"]["payout_reference"] != "typo"

    audit = run_cli("audit", "--action", "crm_drift", "--format", "json", cwd=repo, env=env)
    assert audit.returncode == 0, audit.stderr
    [row] = json.loads(audit.stdout)
    assert row["entity"] == "opportunity"
    assert row["actor"] == "hubspot:77"
    assert row["after"]["values"] == {"payout_reference": "typo"}
    assert "payout_reference changed in hubspot by 77" in row["reason"]

    bad = run_cli("audit", "--entity", "spaceship", cwd=repo, env=env)
    assert bad.returncode == 2
    assert "--entity must be one of" in bad.stderr


def _statuses(factory: sessionmaker[Session], crm: str) -> dict[str, int]:
    with factory() as session:
        rows = session.execute(
            select(OutboxEntry.status, func.count())
            .where(OutboxEntry.crm == crm)
            .group_by(OutboxEntry.status)
        )
        return {OutboxStatus(status).value: count for status, count in rows}


def test_a_spent_daily_allocation_stops_the_push_and_touches_nothing_else(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """At the first REQUEST_LIMIT_EXCEEDED the push stops: exit 1 with one line; what the
    CRM took is done, every other row waits as it was (no retry, no rejection)."""
    seed_salesforce(sandbox, 500)
    store_url = f"sqlite:///{tmp_path / 'ps.db'}"
    env = {**_env(sandbox_server, store_url), "PARTNERSYNC_SYNC__PUSH_CONCURRENCY": "1"}
    repo = Path(__file__).resolve().parents[3]
    assert run_cli("sync", "--crm", "salesforce", "--no-push", cwd=repo, env=env).returncode == 0
    factory = _factory(store_url)
    stage_all(factory, "salesforce")
    # Enough for the push's mapping check (describe calls) and one 200-record batch at most.
    used = sandbox.api_usage["salesforce"]
    sandbox.reconfigure(salesforce_daily_limit=used + 3)
    sandbox.journal.clear()

    spent = run_cli("push", "--crm", "salesforce", cwd=repo, env=env)
    assert spent.returncode == 1, spent.stderr
    lines = spent.stderr.splitlines()
    assert len(lines) == 1, spent.stderr
    assert "daily API allocation is spent" in lines[0]
    assert "REQUEST_LIMIT_EXCEEDED" in lines[0]
    statuses = _statuses(factory, "salesforce")
    assert set(statuses) <= {"pending", "done"}  # nothing marked retry or rejected
    assert statuses.get("pending", 0) > 0
    written = {event.record_id for event in sandbox.journal_events("salesforce")}
    assert statuses.get("done", 0) == len(written)  # done: exactly what the CRM took

    sandbox.reconfigure(salesforce_daily_limit=5_000_000)  # the allocation resets
    again = run_cli("push", "--crm", "salesforce", cwd=repo, env=env)
    assert again.returncode == 0, again.stderr
    assert _statuses(factory, "salesforce") == {"done": 500}


def test_a_mapping_field_the_crm_does_not_have_stops_the_sync(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """A typo in a mapping (HubSpot `amount = "amout"`) stops `sync` before the first page,
    exit 2 naming the file and the key, instead of mirroring every amount as NULL."""
    seed_hubspot(sandbox, 20)
    repo = Path(__file__).resolve().parents[3]
    typo = tmp_path / "hubspot.toml"
    text = (repo / "mappings" / "hubspot.toml").read_text()
    assert 'amount         = "amount"' in text
    typo.write_text(text.replace('amount         = "amount"', 'amount         = "amout"'))
    env = {
        **_env(sandbox_server, f"sqlite:///{tmp_path / 'ps.db'}"),
        "PARTNERSYNC_HUBSPOT__MAPPING": str(typo),
    }
    result = run_cli("sync", "--crm", "hubspot", cwd=repo, env=env)
    assert result.returncode == 2, result.stderr
    assert f"{typo}: inbound.amount: deals has no field 'amout'" in result.stderr
    assert sandbox.stats.count("GET /crm/v3/objects/deals") == 0  # no page was read
