"""What the daemon is doing, for a person (``partnersync status``): each job's last run,
lock and waiting trigger; per CRM the write-back backlog, quarantine and watermark."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.store import Job, OutboxEntry, OutboxStatus, QuarantinedRecord, SyncState

__all__ = ["daemon_status"]

#: The figures of a run's report worth a glance, in this order.
_HEADLINE = ("fetched", "upserted", "deleted", "quarantined", "sent", "updated", "rejected",
             "changed", "scheduled", "api_calls", "seconds")  # fmt: skip


def daemon_status(
    factory: sessionmaker[Session], *, now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """``{"jobs": [...], "crms": [...]}`` as of ``now``."""
    with factory() as session:
        jobs = [_job(job, now) for job in session.scalars(select(Job).order_by(Job.name))]
        backlog: dict[str, dict[str, int]] = {}
        for crm, state, count in session.execute(
            select(OutboxEntry.crm, OutboxEntry.status, func.count())
            .where(OutboxEntry.status != OutboxStatus.DONE)
            .group_by(OutboxEntry.crm, OutboxEntry.status)
        ):
            backlog.setdefault(crm.value, {})[state.value] = count
        quarantine = {
            crm.value: count
            for crm, count in session.execute(
                select(QuarantinedRecord.crm, func.count()).group_by(QuarantinedRecord.crm)
            )
        }
        states = {s.crm.value: s for s in session.scalars(select(SyncState))}
    crms = sorted(set(backlog) | set(quarantine) | set(states))
    return {
        "jobs": jobs,
        "crms": [
            {
                "crm": crm,
                "outbox_pending": backlog.get(crm, {}).get("pending", 0),
                "outbox_retry": backlog.get(crm, {}).get("retry", 0),
                "outbox_rejected": backlog.get(crm, {}).get("rejected", 0),
                "quarantined": quarantine.get(crm, 0),
                "watermark": states[crm].watermark if crm in states else None,
                "last_full_read": states[crm].last_full_at if crm in states else None,
            }
            for crm in crms
        ],
    }


def _job(job: Job, now: datetime) -> dict[str, Any]:
    if job.holder and job.lease_until and job.lease_until >= now:
        state = f"running on {job.holder}"
    elif job.holder:
        state = f"lock lapsed ({job.holder})"
    else:
        state = "idle"
    report = job.report or {}
    return {
        "job": job.name,
        "state": state,
        "waiting_since": job.requested_at,
        "last_started": job.started_at,
        "last_finished": job.finished_at,
        "outcome": job.outcome,
        "runs": job.runs,
        "last_report": " ".join(f"{k}={report[k]}" for k in _HEADLINE if report.get(k)),
        "error": job.error,
    }
