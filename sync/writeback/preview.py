"""What the write-back queue holds: ``partnersync push --status`` and ``mappings preview``.

Both only read. The preview plans exactly what :func:`sync.writeback.push.push` would send (the same
planning function), so a dry run and a real push never disagree.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from sync.mapping import CompiledMapping
from sync.store import Crm, Opportunity, OutboxEntry, OutboxStatus
from sync.writeback.push import due_entries, plan_writes

__all__ = ["outbox_status", "preview_writes"]

#: Rows read per round while previewing.
_ROUND = 500


def preview_writes(
    factory: sessionmaker[Session], mapping: CompiledMapping, *, limit: int | None = None
) -> list[dict[str, Any]]:
    """One row per field a push would write now or on retry: record, field, CRM value now,
    value to write. Records whose CRM values already agree are left out (they cost no call).
    """
    crm = Crm(mapping.crm)
    rows: list[dict[str, Any]] = []
    records = 0
    last_id = 0
    with factory() as session:
        while limit is None or records < limit:
            due = due_entries(session, crm, None, last_id, _ROUND)
            if not due:
                break
            last_id = due[-1][0].id
            names = {opportunity.id: opportunity.name for _, opportunity in due}
            for plan in plan_writes(mapping, due):
                if not plan.changes:
                    continue
                if limit is not None and records >= limit:
                    break
                records += 1
                for crm_field, (now, new) in plan.changes.items():
                    rows.append(
                        {
                            "crm": crm.value,
                            "record": plan.crm_id,
                            "name": names.get(plan.opportunity_id),
                            "field": crm_field,
                            "crm_value": now,
                            "new_value": mapping.outbound[crm_field].canonical(new),
                        }
                    )
    return rows


def outbox_status(
    factory: sessionmaker[Session], crms: list[Crm], *, now: datetime, problems: int = 50
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Counts per CRM and status, and the rows needing attention (rejected, retrying).

    The first list has one row per CRM: pending, due now, retry, rejected, done, and the
    next retry time. The second lists up to ``problems`` rejected and retrying records
    with the CRM's code and message, newest first.
    """
    counts: list[dict[str, Any]] = []
    attention: list[dict[str, Any]] = []
    with factory() as session:
        for crm in crms:
            by_status: Counter[str] = Counter()
            for status, count in session.execute(
                select(OutboxEntry.status, func.count())
                .where(OutboxEntry.crm == crm)
                .group_by(OutboxEntry.status)
            ):
                by_status[OutboxStatus(status).value] = count
            due = session.scalar(
                select(func.count()).where(
                    OutboxEntry.crm == crm,
                    OutboxEntry.status.in_((OutboxStatus.PENDING, OutboxStatus.RETRY)),
                    (OutboxEntry.next_attempt_at.is_(None)) | (OutboxEntry.next_attempt_at <= now),
                )
            )
            next_retry = session.scalar(
                select(func.min(OutboxEntry.next_attempt_at)).where(
                    OutboxEntry.crm == crm,
                    OutboxEntry.status == OutboxStatus.RETRY,
                    OutboxEntry.next_attempt_at > now,
                )
            )
            counts.append(
                {
                    "crm": crm.value,
                    "pending": by_status["pending"],
                    "retry": by_status["retry"],
                    "due_now": due or 0,
                    "rejected": by_status["rejected"],
                    "done": by_status["done"],
                    "next_retry_at": next_retry,
                }
            )
            problem_rows = session.execute(
                select(OutboxEntry, Opportunity.name)
                .join(Opportunity, Opportunity.id == OutboxEntry.opportunity_id)
                .where(
                    OutboxEntry.crm == crm,
                    OutboxEntry.status.in_((OutboxStatus.REJECTED, OutboxStatus.RETRY)),
                )
                .order_by(OutboxEntry.updated_at.desc(), OutboxEntry.id.desc())
                .limit(problems)
            ).tuples()
            for entry, name in problem_rows:
                attention.append(
                    {
                        "crm": crm.value,
                        "record": entry.crm_id,
                        "name": name,
                        "status": entry.status.value,
                        "attempts": entry.attempts,
                        "code": entry.last_error_code,
                        "message": entry.last_error_message,
                        "next_attempt_at": entry.next_attempt_at,
                        "values": dict(entry.desired),
                    }
                )
    return counts, attention
