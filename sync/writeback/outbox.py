"""The outbox: what must reach the CRM, staged in the same transaction as the change.

Services call :func:`stage` with the partnersync values an opportunity's CRM fields must
show (``{"registration.status": "approved", "commission.accrued": Decimal("120.00")}``).
Values for one record coalesce into its one open row, so the push sends the latest desired
values once, however many changes came before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.mapping import OUTBOUND
from sync.mapping.coerce import COERCERS
from sync.plain import plain
from sync.store import OPEN_OUTBOX_STATUSES, Opportunity, OutboxEntry, OutboxStatus

__all__ = ["stage"]


def _typed(source: str, value: Any) -> Any:
    """``value`` as its outbound type (money exact, a date for a date-time), or the state's
    name; ``ValueError`` when it is not one (a programming error)."""
    kind = OUTBOUND[source]
    if value is None or kind.states is not None:
        return value
    if isinstance(value, float):
        raise TypeError(f"{source}: float {value!r} refused; money and figures are Decimal")
    if isinstance(value, datetime) and kind.coerce == "date":
        return value.date()
    return COERCERS[kind.coerce](value)


def stage(session: Session, opportunity: Opportunity, values: Mapping[str, Any]) -> OutboxEntry:
    """Record that ``opportunity``'s CRM fields must show ``values`` (outbound sources).

    Raises ``KeyError`` for a source outside the outbound vocabulary: a programming error.
    """
    unknown = [source for source in values if source not in OUTBOUND]
    if unknown:
        raise KeyError(f"not an outbound value: {', '.join(unknown)}")
    values = {source: plain(_typed(source, value), path=source) for source, value in values.items()}
    entry = session.scalars(
        select(OutboxEntry)
        .where(
            OutboxEntry.crm == opportunity.crm,
            OutboxEntry.crm_id == opportunity.crm_id,
            OutboxEntry.status.in_(OPEN_OUTBOX_STATUSES),
        )
        .with_for_update()
    ).first()
    if entry is None:
        entry = OutboxEntry(
            crm=opportunity.crm,
            crm_id=opportunity.crm_id,
            opportunity_id=opportunity.id,
            desired=values,
            status=OutboxStatus.PENDING,
            attempts=0,
        )
        session.add(entry)
    else:
        entry.desired = {**entry.desired, **values}  # a new dict: JSON columns track assignment
    session.flush()
    return entry
