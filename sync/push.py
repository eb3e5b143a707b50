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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import CrmConnector, RecordUpdate, WriteOutcome, WriteResult
from connectors.errors import RateLimited, Transient
from sync.coerce import COERCERS
from sync.log import get_logger
from sync.mapping import CompiledMapping, OutboundField
from sync.store import (
    OPEN_OUTBOX_STATUSES,
    AuditEntity,
    AuditEntry,
    Crm,
    Opportunity,
    OutboxEntry,
    OutboxStatus,
    transaction,
)

__all__ = ["PlannedWrite", "PushReport", "plan_writes", "push"]

log = get_logger("sync.push")

#: Outbox rows read per round (the connector splits them into API-sized batches).
ROUND_ROWS = 2_000
RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)


@dataclass
class PushReport:
    """What one push did."""

    crm: str
    considered: int = 0
    unchanged: int = 0
    sent: int = 0
    done: int = 0
    retry: int = 0
    rejected: int = 0
    api_calls: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PlannedWrite:
    """One record's fields to write: CRM field -> (value now in the CRM, value to write)."""

    entry_id: int
    crm_id: str
    changes: Mapping[str, tuple[str | None, Any]]
    desired: Mapping[str, Any]


def _typed(spec: OutboundField, value: Any) -> Any:
    """A stored desired value (JSON text) back to its type for the wire."""
    if value is None:
        return None
    if spec.values is not None:
        return value
    return COERCERS[spec.kind.coerce](value)


def plan_writes(
    mapping: CompiledMapping, entries: Sequence[tuple[OutboxEntry, Opportunity]]
) -> list[PlannedWrite]:
    """What a push would send for these outbox rows: only fields that differ."""
    plans: list[PlannedWrite] = []
    for entry, opportunity in entries:
        wanted = mapping.outbound_values(entry.desired)
        current = opportunity.crm_values or {}
        changes: dict[str, tuple[str | None, Any]] = {}
        for crm_field, value in wanted.items():
            spec = mapping.outbound[crm_field]
            typed = _typed(spec, value)
            if spec.canonical(typed) != current.get(crm_field):
                changes[crm_field] = (current.get(crm_field), typed)
        plans.append(PlannedWrite(entry.id, entry.crm_id, changes, dict(entry.desired)))
    return plans


def _due(session: Session, crm: Crm, now: datetime, after_id: int, limit: int) -> list[Any]:
    return list(
        session.execute(
            select(OutboxEntry, Opportunity)
            .join(Opportunity, Opportunity.id == OutboxEntry.opportunity_id)
            .where(
                OutboxEntry.crm == crm,
                OutboxEntry.status.in_(OPEN_OUTBOX_STATUSES),
                or_(OutboxEntry.next_attempt_at.is_(None), OutboxEntry.next_attempt_at <= now),
                OutboxEntry.id > after_id,
            )
            .order_by(OutboxEntry.id)
            .limit(limit)
        ).tuples()
    )


def _backoff(attempts: int) -> timedelta:
    delay: timedelta = RETRY_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, RETRY_MAX)


def push(
    factory: sessionmaker[Session],
    connector: CrmConnector,
    mapping: CompiledMapping,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    round_rows: int = ROUND_ROWS,
) -> PushReport:
    """Drain the open outbox rows of ``connector``'s CRM that are due now."""
    crm = Crm(connector.crm)
    report = PushReport(crm=crm.value)
    started = time.perf_counter()
    calls_before = connector.calls
    last_id = 0
    while True:
        now = clock()
        with factory() as session:
            due = _due(session, crm, now, last_id, round_rows)
            plans = plan_writes(mapping, due)
        if not due:
            break
        last_id = due[-1][0].id
        report.considered += len(plans)
        to_send = [p for p in plans if p.changes]
        unchanged = [p for p in plans if not p.changes]
        updates = [
            RecordUpdate(p.crm_id, {field: new for field, (_, new) in p.changes.items()})
            for p in to_send
        ]
        for update in updates:
            stray = set(update.values) - set(mapping.outbound)
            if stray:  # the push can only write fields named in [outbound]
                raise RuntimeError(f"refusing to write unmapped fields: {sorted(stray)}")
        results: list[WriteResult] = []
        failure: Exception | None = None
        if updates:
            try:
                results = connector.update(updates)
            except (Transient, RateLimited) as exc:
                failure = exc
        report.sent += len(updates)
        with transaction(factory) as session:
            _record(session, mapping, unchanged, to_send, results, failure, now, report)
    report.api_calls = connector.calls - calls_before
    report.seconds = time.perf_counter() - started
    log.info("push.done", **{k: v for k, v in report.as_dict().items() if k != "seconds"},
             seconds=round(report.seconds, 3))  # fmt: skip
    return report


def _record(
    session: Session,
    mapping: CompiledMapping,
    unchanged: Sequence[PlannedWrite],
    sent: Sequence[PlannedWrite],
    results: Sequence[WriteResult],
    failure: Exception | None,
    now: datetime,
    report: PushReport,
) -> None:
    """Store each record's outcome; a row whose desired values moved on stays open."""
    ids = [p.entry_id for p in (*unchanged, *sent)]
    entries = {e.id: e for e in session.scalars(select(OutboxEntry).where(OutboxEntry.id.in_(ids)))}
    by_crm_id = {r.id: r for r in results}
    for plan in unchanged:
        entry = entries[plan.entry_id]
        if entry.desired == plan.desired:
            entry.status = OutboxStatus.DONE
            report.unchanged += 1
            report.done += 1
    for plan in sent:
        entry = entries[plan.entry_id]
        result = by_crm_id.get(plan.crm_id)
        if failure is not None or result is None:
            code = getattr(failure, "code", None) or "NO_RESULT"
            _retry(entry, now, code, str(failure) if failure else "no result for this record")
            report.retry += 1
            continue
        if result.outcome is WriteOutcome.OK:
            opportunity = session.get(Opportunity, entry.opportunity_id)
            if opportunity is not None:
                written = {
                    field: mapping.outbound[field].canonical(new)
                    for field, (_, new) in plan.changes.items()
                }
                opportunity.crm_values = {**(opportunity.crm_values or {}), **written}
            if entry.desired == plan.desired:
                entry.status = OutboxStatus.DONE
            entry.last_error_code = entry.last_error_message = None
            report.done += 1
        elif result.outcome is WriteOutcome.RETRY:
            _retry(entry, now, result.code or "RETRY", result.message or "")
            report.retry += 1
        else:
            entry.status = OutboxStatus.REJECTED
            entry.attempts += 1
            entry.last_error_code = result.code
            entry.last_error_message = result.message
            session.add(
                AuditEntry(
                    at=now,
                    actor=f"push:{entry.crm}",
                    entity_kind=AuditEntity.OPPORTUNITY,
                    entity_id=str(entry.opportunity_id),
                    action="crm_write_rejected",
                    before=None,
                    after={"fields": sorted(plan.changes), "code": result.code},
                    reason=result.message,
                )
            )
            report.rejected += 1


def _retry(entry: OutboxEntry, now: datetime, code: str, message: str) -> None:
    entry.status = OutboxStatus.RETRY
    entry.attempts += 1
    entry.next_attempt_at = now + _backoff(entry.attempts)
    entry.last_error_code = code
    entry.last_error_message = message[:2000]
