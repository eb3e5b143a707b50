"""The outbox: what must reach the CRM, staged in the same transaction as the change.

Services call :func:`stage` with the partnersync values an opportunity's CRM fields must
show (``{"registration.status": "approved", "commission.accrued": Decimal("120.00")}``).
Values for one record coalesce into its one open row, so the push sends the latest desired
values once, however many changes came before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.coerce import COERCERS
from sync.mapping import OUTBOUND, CompiledMapping
from sync.store import OPEN_OUTBOX_STATUSES, Opportunity, OutboxEntry, OutboxStatus

__all__ = ["Target", "crm_targets", "desired_values", "plain_value", "stage"]


def plain_value(value: Any) -> Any:
    """A desired value as JSON: money and dates as text, states as their names."""
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not an amount")
        return format(value, "f")
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot stage a {type(value).__name__}")


def stage(session: Session, opportunity: Opportunity, values: Mapping[str, Any]) -> OutboxEntry:
    """Record that ``opportunity``'s CRM fields must show ``values`` (outbound sources).

    Raises ``KeyError`` for a source outside the outbound vocabulary: a programming error.
    """
    unknown = [source for source in values if source not in OUTBOUND]
    if unknown:
        raise KeyError(f"not an outbound value: {', '.join(unknown)}")
    plain = {source: plain_value(value) for source, value in values.items()}
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
            desired=plain,
            status=OutboxStatus.PENDING,
            attempts=0,
        )
        session.add(entry)
    else:
        entry.desired = {**entry.desired, **plain}  # a new dict: JSON columns track assignment
    session.flush()
    return entry


def desired_values(session: Session, opportunity_id: int) -> dict[str, Any]:
    """Everything partnersync has ever asked this record's CRM fields to show, latest wins."""
    merged: dict[str, Any] = {}
    rows = session.scalars(
        select(OutboxEntry.desired)
        .where(OutboxEntry.opportunity_id == opportunity_id)
        .order_by(OutboxEntry.id)
    )
    for desired in rows:
        merged.update(desired)
    return merged


@dataclass(frozen=True)
class Target:
    """What one CRM field must show: the value for the wire and its comparable text."""

    value: Any
    canonical: str | None


def crm_targets(mapping: CompiledMapping, desired: Mapping[str, Any]) -> dict[str, Target]:
    """CRM field -> :class:`Target` for every outbound field whose source is in ``desired``.

    ``canonical`` compares with ``Opportunity.crm_values`` (what the CRM holds), however the
    CRM formats the value (``10.5`` for ``10.50``, epoch milliseconds for a date).
    """
    targets: dict[str, Target] = {}
    for crm_field, value in mapping.outbound_values(desired).items():
        spec = mapping.outbound[crm_field]
        typed = value
        if value is not None and spec.values is None:
            typed = COERCERS[spec.kind.coerce](value)
        targets[crm_field] = Target(typed, spec.canonical(typed))
    return targets
