"""What the daemon is doing: the facts ``partnersync status``, ``GET /healthz`` and
``GET /metrics`` show, read from the store (the same whichever process asks)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.store import Job, OutboxEntry, OutboxStatus, QuarantinedRecord, SyncState

__all__ = ["ENDPOINT_CALLS", "Facts", "daemon_status", "facts"]

#: A job report's count of the API calls made to one endpoint: ``calls:deals/search``.
ENDPOINT_CALLS = "calls:"

#: The figures of a run's report worth a glance, in this order.
_HEADLINE = ("read", "upserted", "deleted", "quarantined", "sent", "done", "rejected",
             "changed", "scheduled", "api_calls", "retries", "seconds")  # fmt: skip


@dataclass
class Facts:
    """Each job's row; per CRM the open outbox rows by status, the quarantine, where the
    pull resumes."""

    jobs: list[Job] = field(default_factory=list)
    backlog: dict[str, dict[str, int]] = field(default_factory=dict)
    quarantine: dict[str, int] = field(default_factory=dict)
    states: dict[str, SyncState] = field(default_factory=dict)

    @property
    def crms(self) -> list[str]:
        pulled = {j.name.partition(":")[2] for j in self.jobs if j.name.startswith("pull:")}
        return sorted(pulled | set(self.backlog) | set(self.quarantine) | set(self.states))

    def job(self, name: str) -> Job | None:
        return next((j for j in self.jobs if j.name == name), None)

    def pushes(self, crm: str) -> list[Job]:
        """``crm``'s push jobs: ``push:crm`` and, with ``[queue] push_shards``, its shares."""
        return [
            j for j in self.jobs if j.name == f"push:{crm}" or j.name.startswith(f"push:{crm}:")
        ]

    def settled(self, crms: Iterable[str], since: datetime, *, idle: bool = False) -> bool:
        """Each of ``crms`` pulled successfully at or after ``since``, every push of it
        successful after that pull, and no write waiting for it (with ``idle``: no job
        held or waiting either): the daemon has caught up with the CRMs."""
        for crm in crms:
            pulled, pushes = self.job(f"pull:{crm}"), self.pushes(crm)
            if pulled is None or pulled.succeeded_at is None or pulled.succeeded_at < since:
                return False
            pushed = [p.succeeded_at for p in pushes]
            if not pushed or any(at is None or at < pulled.succeeded_at for at in pushed):
                return False
            if self.backlog.get(crm, {}).get("pending"):
                return False
        return not idle or not any(j.requested_at or j.holder for j in self.jobs)

    def lag(self, crm: str, now: datetime) -> float | None:
        """Seconds since ``crm``'s last successful pull (None: never)."""
        pulled = self.job(f"pull:{crm}")
        if pulled is None or pulled.succeeded_at is None:
            return None
        return max(0.0, (now - pulled.succeeded_at).total_seconds())

    def quota(self, crm: str) -> float | None:
        """The share of ``crm``'s daily API allocation used, as its last pull saw it."""
        pulled = self.job(f"pull:{crm}")
        report = (pulled.report if pulled else None) or {}
        used, limit = report.get("quota_used"), report.get("quota_limit")
        if not isinstance(used, int) or not isinstance(limit, int) or limit <= 0:
            return None
        return used / limit


def facts(factory: sessionmaker[Session]) -> Facts:
    """The daemon's facts, in one short read."""
    out = Facts()
    with factory() as session:
        out.jobs = list(session.scalars(select(Job).order_by(Job.name)))
        for crm, state, count in session.execute(
            select(OutboxEntry.crm, OutboxEntry.status, func.count())
            .where(OutboxEntry.status != OutboxStatus.DONE)
            .group_by(OutboxEntry.crm, OutboxEntry.status)
        ):
            out.backlog.setdefault(crm.value, {})[state.value] = count
        out.quarantine = {
            crm.value: count
            for crm, count in session.execute(
                select(QuarantinedRecord.crm, func.count()).group_by(QuarantinedRecord.crm)
            )
        }
        out.states = {s.crm.value: s for s in session.scalars(select(SyncState))}
        session.expunge_all()
    return out


def daemon_status(
    factory: sessionmaker[Session], *, now: datetime
) -> dict[str, list[dict[str, Any]]]:
    """``{"jobs": [...], "crms": [...]}`` as of ``now``, for a person."""
    known = facts(factory)
    crms = []
    for crm in known.crms:
        state = known.states.get(crm)
        quota = known.quota(crm)
        lag = known.lag(crm, now)
        crms.append({
            "crm": crm,
            "outbox_pending": known.backlog.get(crm, {}).get("pending", 0),
            "outbox_retry": known.backlog.get(crm, {}).get("retry", 0),
            "outbox_rejected": known.backlog.get(crm, {}).get("rejected", 0),
            "quarantined": known.quarantine.get(crm, 0),
            "lag_seconds": round(lag) if lag is not None else None,
            "daily_quota_used": f"{quota:.0%}" if quota is not None else None,
            "watermark": state.watermark if state else None,
            "last_full_read": state.last_full_at if state else None,
        })  # fmt: skip
    return {"jobs": [_job(job, now) for job in known.jobs], "crms": crms}


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
