"""The write-back, end to end: outbox -> our connectors -> the real clients -> the sandbox.

Nothing is mocked: the store is SQLite or PostgreSQL, the connectors talk HTTP to the
sandbox through simple-salesforce and hubspot-api-client, and the sandbox's own counters
and write journal say what reached the CRM. Retry sleeps are skipped; time moves by
passing the push a later clock.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import sync.writeback.push as push_module
from connectors.base import CrmConnector
from connectors.retry import RetryPolicy
from sandbox import (
    Sandbox,
    SandboxServer,
    parse_faults,
    parse_rate,
    salesforce_user,
    salesforce_user_id,
)
from sync.mapping import OUTBOUND, CompiledMapping, crm_targets, parse_mapping
from sync.mirror.drift import DriftCorrection
from sync.mirror.pull import PullReport
from sync.mirror.pull import pull as mirror_pull
from sync.store import (
    OPEN_OUTBOX_STATUSES,
    AuditEntry,
    Crm,
    Opportunity,
    OutboxEntry,
    OutboxStatus,
    transaction,
)
from sync.writeback.outbox import stage
from sync.writeback.preview import outbox_status, preview_writes
from sync.writeback.push import plan_writes, push, reopen_rejected
from tests.sync.links import LINKS, REPO, SF_MAPPING, crm_field, edit_in_crm, mirrored

CRMS = ["salesforce", "hubspot"]
BATCH = {"salesforce": 200, "hubspot": 100}
#: Retries that really wait (Retry-After is 1 s), but back off briefly from transient errors.
PACED = RetryPolicy(attempts=12, initial_wait=0.02, max_wait=2.0)
#: A rep's user id as each CRM reports it on a record they edited.
REP = {"salesforce": salesforce_user_id(42), "hubspot": "4242"}


def pull(
    factory: sessionmaker[Session], connector: CrmConnector, mapping: CompiledMapping, **kw: Any
) -> PullReport:
    """The mirror with the handlers every sync runs (drift correction)."""
    return mirror_pull(
        factory, connector, mapping, handlers=[DriftCorrection(connector.user_names)], **kw
    )


def desired(index: int) -> dict[str, Any]:
    """What partnersync wants record ``index`` to show (different for every record)."""
    return {
        "registration.status": "approved",
        "registration.protected_until": date(2027, 1, 1) + timedelta(days=index % 90),
        "commission.accrued": Decimal(f"{index}.25"),
        "payout.reference": f"PAY-{index:05d}",
    }


def stage_all(
    factory: sessionmaker[Session], crm: str, values: Callable[[int], dict[str, Any]] = desired
) -> dict[str, dict[str, Any]]:
    """Stage ``values(i)`` for every mirrored record of ``crm``; crm id -> staged values."""
    staged: dict[str, dict[str, Any]] = {}
    with transaction(factory) as session:
        rows = session.scalars(
            select(Opportunity)
            .where(Opportunity.crm == crm, Opportunity.deleted.is_(False))
            .order_by(Opportunity.crm_id)
        ).all()
        for index, opportunity in enumerate(rows):
            staged[opportunity.crm_id] = values(index)
            stage(session, opportunity, staged[opportunity.crm_id])
    return staged


def mirror(crm: str, server: SandboxServer, sandbox: Sandbox, factory: sessionmaker[Session],
           records: int) -> None:  # fmt: skip
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, records)
    report = pull(factory, connect(server), mapping)
    assert report.upserted == records


def open_rows(factory: sessionmaker[Session], crm: str) -> int:
    with factory() as session:
        return (
            session.scalar(
                select(func.count()).where(
                    OutboxEntry.crm == crm, OutboxEntry.status.in_(OPEN_OUTBOX_STATUSES)
                )
            )
            or 0
        )


def assert_crm_shows(sandbox: Sandbox, crm: str, staged: dict[str, dict[str, Any]]) -> None:
    """Every staged value is in the CRM (compared the way the push compares)."""
    mapping = LINKS[crm][1]
    wrong = []
    for record_id, values in staged.items():
        for name, target in crm_targets(mapping, _plain(values)).items():
            now = mapping.outbound[name].canonical(crm_field(sandbox, crm, record_id, name))
            if now != target.canonical:
                wrong.append((record_id, name, now, target.canonical))
    assert wrong == []


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    from sync.plain import plain

    return {k: plain(v) for k, v in values.items()}


def writes_by_record(sandbox: Sandbox, crm: str) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in sandbox.journal_events(api=crm):
        out[event.record_id].append(dict(event.values))
    return out


@pytest.mark.parametrize("crm", CRMS)
def test_thousand_records_in_the_floor_of_calls_and_a_second_push_is_free(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """1,000 changed records: ceil(1000/200) = 5 Salesforce, ceil(1000/100) = 10 HubSpot calls."""
    connect, mapping, _ = LINKS[crm]
    mirror(crm, sandbox_server, sandbox, store, 1_000)
    staged = stage_all(store, crm)
    sandbox.stats.reset()
    connector = connect(sandbox_server)
    report = push(store, connector, mapping, concurrency=3)
    floor = math.ceil(1_000 / BATCH[crm])
    assert report.api_calls == floor
    assert sandbox.stats.count(api=crm) == floor
    assert (report.sent, report.done, report.retry, report.rejected) == (1_000, 1_000, 0, 0)
    assert_crm_shows(sandbox, crm, staged)
    assert open_rows(store, crm) == 0
    writes = writes_by_record(sandbox, crm)
    assert len(writes) == 1_000
    assert all(len(w) == 1 for w in writes.values())

    again = push(store, connect(sandbox_server), mapping)
    assert again.api_calls == 0
    assert sandbox.stats.count(api=crm) == floor

    # Staging values the CRM already shows costs no call either.
    stage_all(store, crm)
    third = push(store, connect(sandbox_server), mapping)
    assert (third.api_calls, third.unchanged, third.done) == (0, 1_000, 1_000)
    assert open_rows(store, crm) == 0


@pytest.mark.parametrize("crm", CRMS)
def test_only_changed_fields_are_sent(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A record whose one field changed gets only that field written."""
    connect, mapping, _ = LINKS[crm]
    mirror(crm, sandbox_server, sandbox, store, 20)
    stage_all(store, crm)
    push(store, connect(sandbox_server), mapping)
    sandbox.journal.clear()
    first = sorted(mirrored(store, crm))[0]
    with transaction(store) as session:
        opportunity = session.scalars(
            select(Opportunity).where(Opportunity.crm == crm, Opportunity.crm_id == first)
        ).one()
        stage(session, opportunity, {"payout.status": "paid", "registration.status": "approved"})
    report = push(store, connect(sandbox_server), mapping)
    assert report.api_calls == 1
    events = sandbox.journal_events(api=crm)
    payout_field = next(n for n, s in mapping.outbound.items() if s.source == "payout.status")
    assert [(e.record_id, set(e.values)) for e in events] == [(first, {payout_field})]


@pytest.mark.parametrize("crm", CRMS)
def test_faults_a_deleted_record_and_nothing_written_twice_differently(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """5% locks (Salesforce), 5% 503s, a 429 storm (HubSpot) and one deleted record."""
    connect, mapping, _ = LINKS[crm]
    mirror(crm, sandbox_server, sandbox, store, 1_000)
    staged = stage_all(store, crm)
    gone = sorted(staged)[17]
    if crm == "salesforce":
        sandbox.salesforce.delete("Opportunity", gone)
        sandbox.reconfigure(faults=parse_faults("503:0.05,lock:0.05,seed:7"))
    else:
        sandbox.hubspot.archive("deals", gone)
        sandbox.reconfigure(faults=parse_faults("503:0.05,seed:7"), hubspot_rate=parse_rate("3/1s"))
    sandbox.journal.clear()
    start = datetime.now(UTC)
    rounds = retried = later = 0
    while open_rows(store, crm) and rounds < 12:
        at = start + timedelta(hours=2 * rounds)  # every retry is due again
        connector = connect(sandbox_server, retry=PACED)  # a 429 storm needs real waits
        report = push(store, connector, mapping, clock=lambda at=at: at, concurrency=2)
        retried += connector.retries  # whole calls retried inside the connector (503, 429)
        later += report.retry  # records left for a later push (locks)
        rounds += 1
    sandbox.reconfigure(faults=parse_faults(""), hubspot_rate=None)

    assert open_rows(store, crm) == 0
    assert retried > 0  # the storm really happened ...
    if crm == "salesforce":
        assert later > 0  # ... and locked rows waited for a later round
    del staged[gone]
    assert_crm_shows(sandbox, crm, staged)
    with store() as session:
        rejected = session.scalars(
            select(OutboxEntry).where(OutboxEntry.status == OutboxStatus.REJECTED)
        ).all()
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "crm_write_rejected")
        ).all()
    expected_code = "ENTITY_IS_DELETED" if crm == "salesforce" else "OBJECT_NOT_FOUND"
    assert [(r.crm_id, r.last_error_code) for r in rejected] == [(gone, expected_code)]
    assert len(audit) == 1
    assert audit[0].after is not None
    assert audit[0].after["code"] == expected_code
    # Retries re-send, but never a different value for the same field.
    for record_id, writes in writes_by_record(sandbox, crm).items():
        seen: dict[str, Any] = {}
        for values in writes:
            for name, value in values.items():
                assert seen.setdefault(name, value) == value, (record_id, name)
    assert gone not in writes_by_record(sandbox, crm)


@pytest.mark.parametrize("crm", CRMS)
def test_pull_after_push_is_an_echo_and_a_manual_edit_is_restored(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Our own writes come back changing nothing; a rep's edit is restored and audited."""
    connect, mapping, _ = LINKS[crm]
    mirror(crm, sandbox_server, sandbox, store, 300)
    staged = stage_all(store, crm)
    push(store, connect(sandbox_server), mapping)
    before = {k: dict(v.crm_values or {}) for k, v in mirrored(store, crm).items()}

    echo = pull(store, connect(sandbox_server), mapping)
    assert echo.read >= 300  # our writes moved every record's modification time
    assert echo.drifted == 0
    assert open_rows(store, crm) == 0
    assert {k: dict(v.crm_values or {}) for k, v in mirrored(store, crm).items()} == before
    sandbox.journal.clear()
    assert push(store, connect(sandbox_server), mapping).api_calls == 0

    edited = sorted(staged)[5]
    status_field = next(n for n, s in mapping.outbound.items() if s.source == "registration.status")
    reference_field = next(n for n, s in mapping.outbound.items() if s.source == "payout.reference")
    rejected_value = "Rejected" if crm == "salesforce" else "rejected"
    if crm == "salesforce":
        edit_in_crm(
            sandbox, crm, edited, {status_field: rejected_value, "LastModifiedById": REP[crm]}
        )
    else:
        sandbox.hubspot.update(
            "deals", edited, {status_field: rejected_value}, by_user=int(REP[crm])
        )
    drift = pull(store, connect(sandbox_server), mapping)
    assert drift.drifted == 1
    with store() as session:
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "crm_drift")).one()
    assert audit.before == {status_field: mapping.outbound[status_field].canonical(
        "Approved" if crm == "salesforce" else "approved")}  # fmt: skip
    assert audit.after is not None
    assert audit.after["values"] == {status_field: rejected_value}
    assert audit.after["modified_by"] == REP[crm]
    assert REP[crm] in audit.actor
    # Salesforce tells the rep's name (a User record); a HubSpot deal gives the id alone.
    name = salesforce_user(42).name if crm == "salesforce" else None
    assert audit.after["modified_by_name"] == name
    if name is not None:
        assert f"by {name} ({REP[crm]})" in (audit.reason or "")
    assert open_rows(store, crm) == 1

    restore = push(store, connect(sandbox_server), mapping)
    assert (restore.api_calls, restore.sent) == (1, 1)
    events = sandbox.journal_events(api=crm)
    assert [(e.record_id, dict(e.values)) for e in events] == [
        (edited, {status_field: "Approved" if crm == "salesforce" else "approved"})
    ]  # only the drifted field: the reference the rep left alone is not re-sent
    assert reference_field not in events[0].values
    assert_crm_shows(sandbox, crm, staged)

    settled = pull(store, connect(sandbox_server), mapping)
    assert settled.drifted == 0
    assert open_rows(store, crm) == 0


def test_a_rejected_write_is_not_drift_and_can_be_requeued(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """The CRM refusing a value is kept with its code; pulls do not loop; --retry-rejected."""
    crm = "salesforce"
    connect = LINKS[crm][0]
    # A mapping whose value map sends a picklist value the org does not have.
    text = (REPO / "mappings" / "salesforce.toml").read_text()
    text = text.replace('approved = "Approved"', 'approved = "Aproved"')
    broken = parse_mapping(text, "mappings/salesforce.toml")
    mirror(crm, sandbox_server, sandbox, store, 10)
    stage_all(
        store, crm, lambda i: {"registration.status": "approved", "payout.reference": f"R{i}"}
    )
    report = push(store, connect(sandbox_server), broken)
    assert report.rejected == 10
    assert report.rejections == {"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST": 10}

    counts, attention = outbox_status(store, [Crm.SALESFORCE], now=datetime.now(UTC))
    assert counts[0]["rejected"] == 10
    assert counts[0]["pending"] == 0
    assert {a["code"] for a in attention} == {"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"}
    assert all("Aproved" in (a["message"] or "") for a in attention)

    again = pull(store, connect(sandbox_server), SF_MAPPING)
    assert again.drifted == 0
    assert open_rows(store, crm) == 0
    assert reopen_rejected(store, Crm.SALESFORCE) == 10
    fixed = push(store, connect(sandbox_server), SF_MAPPING)
    assert (fixed.done, fixed.rejected) == (10, 0)
    assert {crm_field(sandbox, crm, i, "Registration_Status__c") for i in mirrored(store, crm)} == {
        "Approved"
    }


@pytest.mark.parametrize("crm", CRMS)
def test_killed_between_send_and_record_loses_nothing(
    crm: str,
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    store: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process dies after the CRM took a batch, before the store recorded it."""
    connect, mapping, _ = LINKS[crm]
    mirror(crm, sandbox_server, sandbox, store, 250)
    staged = stage_all(store, crm)

    def die(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt  # what a SIGINT / kill mid-push amounts to for the store

    with monkeypatch.context() as patched:
        patched.setattr(push_module, "_record", die)
        with pytest.raises(KeyboardInterrupt):
            push(store, connect(sandbox_server), mapping)
    assert open_rows(store, crm) == 250  # nothing was recorded ...
    assert len(writes_by_record(sandbox, crm)) > 0  # ... though the CRM took writes

    report = push(store, connect(sandbox_server), mapping)
    assert report.done == 250
    assert open_rows(store, crm) == 0
    assert_crm_shows(sandbox, crm, staged)
    for writes in writes_by_record(sandbox, crm).values():
        assert all(w == writes[0] for w in writes)  # re-sent identically: harmless


def test_the_push_writes_only_mapped_fields(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Every outbound source staged, a mapping naming two fields: only those two are written."""
    crm = "salesforce"
    narrow = parse_mapping(
        'crm = "salesforce"\nobject = "Opportunity"\n[inbound]\nname = "Name"\n'
        'amount = "Amount"\ncurrency = "CurrencyIsoCode"\nis_won = "IsWon"\nis_closed = "IsClosed"\n'
        "[outbound]\n"
        'Payout_Reference__c = "payout.reference"\nCommission_Accrued__c = "commission.accrued"\n',
        "narrow.toml",
    )
    mirror(crm, sandbox_server, sandbox, store, 5)
    everything = {
        "registration.id": "REG-1", "registration.status": "won", "registration.reason": "x",
        "registration.protected_until": date(2027, 3, 1), "registration.partner_id": "P1",
        "registration.conflict_partner_id": "P2",
        "commission.accrued": Decimal("10.00"), "commission.currency": "USD",
        "payout.status": "paid", "payout.amount": Decimal("10.00"),
        "payout.reference": "PAY-1", "payout.paid_at": date(2027, 3, 2),
    }  # fmt: skip
    assert set(everything) == set(OUTBOUND)
    stage_all(store, crm, lambda i: everything)
    with store() as session:
        pairs = list(session.execute(select(OutboxEntry, Opportunity).join(Opportunity)).tuples())
        plans = plan_writes(narrow, pairs)
    assert {name for plan in plans for name in plan.changes} == {
        "Payout_Reference__c",
        "Commission_Accrued__c",
    }
    push(store, LINKS[crm][0](sandbox_server), narrow)
    assert {n for e in sandbox.journal_events(api=crm) for n in e.values} == {
        "Payout_Reference__c",
        "Commission_Accrued__c",
    }


@pytest.mark.parametrize("crm", CRMS)
def test_preview_shows_what_a_push_would_write(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """The dry run lists record, field, CRM value now and the value to write; writes nothing."""
    connect, mapping, _ = LINKS[crm]
    mirror(crm, sandbox_server, sandbox, store, 30)
    stage_all(store, crm)
    sandbox.stats.reset()
    rows = preview_writes(store, mapping, limit=3)
    assert sandbox.stats.count() == 0
    assert len({r["record"] for r in rows}) == 3
    assert len(rows) == 3 * 4  # four fields each
    reference = next(n for n, s in mapping.outbound.items() if s.source == "payout.reference")
    first = sorted(mirrored(store, crm))[0]
    assert {"crm": crm, "record": first, "field": reference, "crm_value": None,
            "new_value": "PAY-00000"}.items() <= next(
        r for r in rows if r["record"] == first and r["field"] == reference).items()  # fmt: skip
    assert len(preview_writes(store, mapping)) == 30 * 4
    push(store, connect(sandbox_server), mapping)
    assert preview_writes(store, mapping) == []


def test_a_crm_outage_leaves_every_row_queued_for_later(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Every call failing past the connector's retries: rows wait with a backoff, none lost."""
    crm = "hubspot"
    connect, mapping, _ = LINKS[crm]
    mirror(crm, sandbox_server, sandbox, store, 150)
    staged = stage_all(store, crm)
    sandbox.reconfigure(faults=parse_faults("503:1"))
    now = datetime.now(UTC)
    down = push(store, connect(sandbox_server, retry=RetryPolicy(attempts=2, sleep=lambda _: None)),
                mapping, clock=lambda: now)  # fmt: skip
    assert (down.retry, down.done, down.api_calls) == (150, 0, 4)
    counts, attention = outbox_status(store, [Crm.HUBSPOT], now=now)
    assert (counts[0]["retry"], counts[0]["due_now"]) == (150, 0)
    assert counts[0]["next_retry_at"] == now + timedelta(seconds=30)
    assert len(attention) == 50  # the newest 50 by default
    assert {a["status"] for a in attention} == {"retry"}
    assert all(a["code"] and "503" in (a["message"] or "") for a in attention)
    assert push(store, connect(sandbox_server), mapping, clock=lambda: now).api_calls == 0

    sandbox.reconfigure(faults=parse_faults(""))
    later = now + timedelta(minutes=1)
    back = push(store, connect(sandbox_server), mapping, clock=lambda: later)
    assert (back.done, back.api_calls) == (150, 2)
    assert_crm_shows(sandbox, crm, staged)
