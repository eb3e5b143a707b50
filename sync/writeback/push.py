"""The push: outbox -> outbound mapping -> batched CRM updates -> per-record outcome.

Open outbox rows are drained in batches of the API maximum (the connector splits them into
200-record Salesforce collections / 100-input HubSpot batches). Only fields whose desired
value differs from what the CRM holds (``Opportunity.crm_values``: the last value read or
written) are sent; a record with nothing to change costs no call. Each record ends
``done``, ``retry`` (lock, rate limit, 5xx; with backoff) or ``rejected`` (kept with the
CRM's code and message, never retried blindly). A crash between sending and recording
leaves the rows open: they are sent again, which is harmless because updates are
idempotent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import CrmConnector, RecordUpdate, WriteOutcome, WriteResult
from connectors.errors import CrmError
from sync.audit import record
from sync.log import get_logger
from sync.mapping import CompiledMapping, crm_targets
from sync.store import (
    OPEN_OUTBOX_STATUSES,
    OUTBOX_OPEN,
    AuditEntity,
    Crm,
    Opportunity,
    OutboxEntry,
    OutboxStatus,
    transaction,
)
from sync.writeback.creates import CreateReport, push_creates
from sync.writeback.outbox import stage
from sync.writeback.sending import STOPS, backoff, guarded

__all__ = ["PlannedWrite", "PushReport", "plan_writes", "push", "reopen_rejected"]

log = get_logger("sync.writeback.push")

#: Outbox rows read per round (sent in API-sized batches, ``concurrency`` at a time).
ROUND_ROWS = 2_000


@dataclass
class PushReport:
    """What one push did. ``unchanged`` rows needed no call: the CRM already agreed."""

    crm: str
    considered: int = 0
    unchanged: int = 0
    sent: int = 0
    done: int = 0
    retry: int = 0
    rejected: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    rejections: dict[str, int] = field(default_factory=dict)
    #: Deals created for approved registrations (``sync.writeback.creates``).
    creates: CreateReport = field(default_factory=CreateReport)

    def as_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["seconds"] = round(self.seconds, 2)
        creates = data.pop("creates")
        data["deals_created"] = creates.created + creates.found
        return data


@dataclass(frozen=True)
class PlannedWrite:
    """One record's fields to write: CRM field -> (value now in the CRM, value to write)."""

    entry_id: int
    opportunity_id: int
    crm_id: str
    changes: Mapping[str, tuple[str | None, Any]]
    desired: Mapping[str, Any]

    def update(self) -> RecordUpdate:
        return RecordUpdate(self.crm_id, {name: new for name, (_, new) in self.changes.items()})


def plan_writes(
    mapping: CompiledMapping, entries: Sequence[tuple[OutboxEntry, Opportunity]]
) -> list[PlannedWrite]:
    """What a push would send for these outbox rows: only fields that differ."""
    plans: list[PlannedWrite] = []
    for entry, opportunity in entries:
        current = opportunity.crm_values or {}
        changes = {
            crm_field: (current.get(crm_field), target.value)
            for crm_field, target in crm_targets(mapping, entry.desired).items()
            if target.canonical != current.get(crm_field)
        }
        plans.append(
            PlannedWrite(entry.id, opportunity.id, entry.crm_id, changes, dict(entry.desired))
        )
    return plans


def due_entries(
    session: Session, crm: Crm, now: datetime | None, after_id: int, limit: int,
    shard: tuple[int, int] = (0, 1),
) -> list[tuple[OutboxEntry, Opportunity]]:  # fmt: skip
    """Open outbox rows of ``crm`` after ``after_id`` (only those due at ``now``, if given;
    with ``shard`` ``(k, n)``, only those of deals whose id is ``k`` modulo ``n``)."""
    query = (
        select(OutboxEntry, Opportunity)
        .join(Opportunity, Opportunity.id == OutboxEntry.opportunity_id)
        .where(
            OutboxEntry.crm == crm,
            OutboxEntry.status.in_(OPEN_OUTBOX_STATUSES),
            OutboxEntry.id > after_id,
        )
        .order_by(OutboxEntry.id)
        .limit(limit)
    )
    if now is not None:
        query = query.where(
            or_(OutboxEntry.next_attempt_at.is_(None), OutboxEntry.next_attempt_at <= now)
        )
    share, shares = shard
    if shares > 1:
        query = query.where(OutboxEntry.opportunity_id % shares == share)
    return list(session.execute(query).tuples())


def _send(connector: CrmConnector, chunk: Sequence[RecordUpdate]) -> list[WriteResult]:
    """One API-sized batch; a failure of the whole request becomes each record's result."""
    return guarded(lambda: connector.update(chunk), [u.id for u in chunk])


def _send_all(
    pool: ThreadPoolExecutor,
    in_flight_max: int,
    connector: CrmConnector,
    chunks: Sequence[Sequence[RecordUpdate]],
) -> tuple[dict[str, WriteResult], CrmError | None]:
    """Send ``chunks`` with the pool's concurrency; the results by record id, and the error
    that stopped the push if one did (no chunk is sent after it; chunks already in flight
    finish, and what they return is kept)."""
    results: dict[str, WriteResult] = {}
    stopped: CrmError | None = None
    pending = iter(chunks)
    in_flight: set[Future[list[WriteResult]]] = set()
    while True:
        while stopped is None and len(in_flight) < in_flight_max:
            chunk = next(pending, None)
            if chunk is None:
                break
            in_flight.add(pool.submit(_send, connector, chunk))
        if not in_flight:
            return results, stopped
        done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in done:
            try:
                results.update((r.id, r) for r in future.result())
            except STOPS as exc:
                stopped = stopped or exc


def push(
    factory: sessionmaker[Session],
    connector: CrmConnector,
    mapping: CompiledMapping,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    round_rows: int = ROUND_ROWS,
    concurrency: int = 1,
    shard: tuple[int, int] = (0, 1),
) -> PushReport:
    """Drain the open outbox rows of ``connector``'s CRM that are due now, after sending
    its queued deal creates (``sync.writeback.creates``). With ``shard`` ``(k, n)``, only
    the rows of deals whose id is ``k`` modulo ``n`` (disjoint pushes that run side by
    side; share 0 sends the creates).

    Each round reads up to ``round_rows`` rows, sends the records with something to change
    in batches of the API maximum (``concurrency`` requests in flight), and records every
    record's outcome in one transaction.
    """
    crm = Crm(connector.crm)
    report = PushReport(crm=crm.value)
    started = time.perf_counter()
    calls_before = connector.calls
    allowed = set(mapping.outbound)
    size = connector.write_batch_size
    last_id = 0
    workers = max(concurrency, 1)
    try:
        if shard[0] == 0:
            report.creates = push_creates(factory, connector, mapping, clock=clock)
    except STOPS:
        report.api_calls = connector.calls - calls_before
        raise
    with ThreadPoolExecutor(workers, thread_name_prefix="push") as pool:
        while True:
            now = clock()
            with factory() as session:
                due = due_entries(session, crm, now, last_id, round_rows, shard)
                plans = plan_writes(mapping, due)
            if not due:
                break
            last_id = due[-1][0].id
            report.considered += len(plans)
            to_send = [p for p in plans if p.changes]
            updates = [p.update() for p in to_send]
            for one in updates:
                stray = set(one.values) - allowed
                if stray:  # the push can only write fields named in [outbound]
                    raise RuntimeError(f"refusing to write unmapped fields: {sorted(stray)}")
            chunks = [updates[i : i + size] for i in range(0, len(updates), size)]
            results, stopped = _send_all(pool, workers, connector, chunks)
            report.sent += len(results)
            if stopped is not None:
                # Record what the CRM took; leave every other row as it was, for later.
                plans = [p for p in plans if p.crm_id in results]
            with transaction(factory) as session:
                _record(session, mapping, plans, results, now, report)
            if stopped is not None:
                report.api_calls = connector.calls - calls_before
                log.info("push.stopped", error=str(stopped), **report.as_dict())
                raise stopped
    report.api_calls = connector.calls - calls_before
    report.seconds = time.perf_counter() - started
    log.info("push.done", **{k: v for k, v in report.as_dict().items() if k != "seconds"},
             seconds=round(report.seconds, 3))  # fmt: skip
    return report


def _record(
    session: Session,
    mapping: CompiledMapping,
    plans: Sequence[PlannedWrite],
    results: Mapping[str, WriteResult],
    now: datetime,
    report: PushReport,
) -> None:
    """Store each record's outcome; a row whose desired values moved on stays open."""
    ids = [p.entry_id for p in plans]
    entries = {e.id: e for e in session.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(ids)))}
    written_ok = [p for p in plans if p.changes and p.crm_id in results and results[p.crm_id].ok]
    opportunities = {
        o.id: o
        for o in session.scalars(
            select(Opportunity).where(Opportunity.id.in_([p.opportunity_id for p in written_ok]))
        )
    }
    for plan in plans:
        entry = entries[plan.entry_id]
        if not plan.changes:
            report.unchanged += 1
            result: WriteResult | None = WriteResult(plan.crm_id, WriteOutcome.OK)
        else:
            result = results.get(plan.crm_id)
        if result is None:  # the CRM answered without this record: try again later
            result = WriteResult(plan.crm_id, WriteOutcome.RETRY, "NO_RESULT", "no result")
        if result.outcome is WriteOutcome.OK:
            opportunity = opportunities.get(plan.opportunity_id)
            if opportunity is not None and plan.changes:
                written = {
                    name: mapping.outbound[name].canonical(new)
                    for name, (_, new) in plan.changes.items()
                }  # echo suppression: the CRM now holds these
                opportunity.crm_values = {**(opportunity.crm_values or {}), **written}
            if entry.desired == plan.desired:
                entry.status = OutboxStatus.DONE
            entry.last_error_code = entry.last_error_message = None
            report.done += 1
        elif result.outcome is WriteOutcome.RETRY:
            _retry(entry, now, result.code or "RETRY", result.message or "")
            report.retry += 1
        else:
            _reject(session, entry, plan, result, now)
            report.rejected += 1
            code = result.code or "REJECTED"
            report.rejections[code] = report.rejections.get(code, 0) + 1


def _reject(
    session: Session, entry: OutboxEntry, plan: PlannedWrite, result: WriteResult, now: datetime
) -> None:
    """Keep the CRM's refusal on the row and in the audit log; never retried blindly."""
    entry.status = OutboxStatus.REJECTED
    entry.attempts += 1
    entry.last_error_code = result.code
    entry.last_error_message = (result.message or "")[:2000]
    record(
        session,
        AuditEntity.OPPORTUNITY,
        entry.opportunity_id,
        "crm_write_rejected",
        before={name: old for name, (old, _) in plan.changes.items()},
        after={
            "crm_id": entry.crm_id,
            "values": {name: new for name, (_, new) in plan.changes.items()},
            "code": result.code,
            "fields": list(result.fields),
        },
        reason=result.message,
        actor=f"push:{entry.crm}",
        at=now,
    )


def reopen_rejected(factory: sessionmaker[Session], crm: Crm, *, actor: str = "cli") -> int:
    """Queue rejected writes again (once the cause is fixed in the CRM); returns how many.

    Each rejected row's values go into the record's open row, under any value staged since
    (newer wins); the rejected row is closed and the audit log says it was requeued.
    """
    reopened = 0
    with transaction(factory) as session:
        rows = session.execute(
            select(OutboxEntry, Opportunity)
            .join(Opportunity, Opportunity.id == OutboxEntry.opportunity_id)
            .where(OutboxEntry.crm == crm, OutboxEntry.status == OutboxStatus.REJECTED)
            .order_by(OutboxEntry.id.desc())
        ).tuples()
        for entry, opportunity in rows:
            open_row = session.scalars(
                select(OutboxEntry).where(
                    OutboxEntry.crm == crm,
                    OutboxEntry.crm_id == entry.crm_id,
                    OUTBOX_OPEN,
                )
            ).first()
            newer = open_row.desired if open_row is not None else {}
            stage(session, opportunity, {k: v for k, v in entry.desired.items() if k not in newer})
            entry.status = OutboxStatus.DONE
            record(
                session,
                AuditEntity.OPPORTUNITY,
                entry.opportunity_id,
                "crm_write_requeued",
                before={"status": "rejected", "code": entry.last_error_code},
                after={"status": "pending", "values": dict(entry.desired)},
                reason="rejected write queued again",
                actor=actor,
            )
            reopened += 1
    return reopened


def _retry(entry: OutboxEntry, now: datetime, code: str, message: str) -> None:
    entry.status = OutboxStatus.RETRY
    entry.attempts += 1
    entry.next_attempt_at = now + backoff(entry.attempts)
    entry.last_error_code = code
    entry.last_error_message = message[:2000]
