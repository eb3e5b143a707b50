"""Drift correction: a synced CRM field changed by hand is restored, and audited.

partnersync owns the values of its outbound fields. A field has *drifted* when the CRM
held the value partnersync last asked for (``Opportunity.crm_values`` before the pull
equalled it) and the record just pulled shows something else: somebody edited it in the
CRM. The pull then stages the authoritative values again (the next push restores them)
and writes an audit row naming the field, both values, and who changed the record and
when, as far as the CRM tells.

Our own writes coming back (echoes) are not drift: the push records what it wrote in
``crm_values``, so the pulled value equals the desired one. A write the CRM rejected is not
drift either: ``crm_values`` never held the desired value, so nothing loops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sync.mapping import CompiledMapping
from sync.outbox import crm_targets, stage
from sync.store import AuditEntity, AuditEntry, Crm, Opportunity, OutboxEntry

__all__ = ["Pulled", "Synced", "correct_drift", "load_synced"]


@dataclass(frozen=True)
class Synced:
    """A mirrored record partnersync has written to: what it wants, what the CRM held."""

    opportunity_id: int
    desired: Mapping[str, Any]  # outbound source -> plain value, latest staging wins
    held: Mapping[str, Any]  # Opportunity.crm_values before this pull


@dataclass(frozen=True)
class Pulled:
    """What the pull just read of one record."""

    crm_values: Mapping[str, Any]
    modified_at: datetime
    modified_by: str | None


def load_synced(session: Session, crm: Crm, crm_ids: Sequence[str]) -> dict[str, Synced]:
    """The records of ``crm_ids`` that have outbox history (one query; usually none)."""
    if not crm_ids:
        return {}
    rows = session.execute(
        select(Opportunity.crm_id, Opportunity.id, Opportunity.crm_values, OutboxEntry.desired)
        .join(OutboxEntry, OutboxEntry.opportunity_id == Opportunity.id)
        .where(Opportunity.crm == crm, Opportunity.crm_id.in_(crm_ids))
        .order_by(OutboxEntry.id)
    )
    desired: dict[str, dict[str, Any]] = {}
    found: dict[str, tuple[int, Mapping[str, Any]]] = {}
    for crm_id, opportunity_id, held, values in rows:
        desired.setdefault(crm_id, {}).update(values)
        found[crm_id] = (opportunity_id, held or {})
    return {
        crm_id: Synced(opportunity_id, desired[crm_id], held)
        for crm_id, (opportunity_id, held) in found.items()
    }


def correct_drift(
    session: Session,
    crm: Crm,
    mapping: CompiledMapping,
    synced: Mapping[str, Synced],
    pulled: Mapping[str, Pulled],
    now: datetime,
) -> int:
    """Re-stage and audit every drifted field of the pulled records; returns the records."""
    drifted_records = 0
    for crm_id, record in pulled.items():
        known = synced.get(crm_id)
        if known is None:
            continue
        targets = crm_targets(mapping, known.desired)
        drifted = {
            crm_field: target
            for crm_field, target in targets.items()
            if known.held.get(crm_field) == target.canonical
            and record.crm_values.get(crm_field) != target.canonical
        }
        if not drifted:
            continue
        opportunity = session.get(Opportunity, known.opportunity_id)
        if opportunity is None:  # pragma: no cover - the join above found it
            continue
        sources = {mapping.outbound[name].source for name in drifted}
        stage(session, opportunity, {s: known.desired[s] for s in sources})
        who = record.modified_by or "an unknown user"
        session.add(
            AuditEntry(
                at=now,
                actor=f"{crm.value}:{record.modified_by or 'unknown'}",
                entity_kind=AuditEntity.OPPORTUNITY,
                entity_id=str(known.opportunity_id),
                action="crm_drift",
                before={name: target.canonical for name, target in drifted.items()},
                after={
                    "crm_id": crm_id,
                    "values": {name: record.crm_values.get(name) for name in drifted},
                    "modified_by": record.modified_by,
                    "modified_at": record.modified_at.isoformat(),
                },
                reason=(
                    f"{', '.join(sorted(drifted))} changed in {crm.value} by {who} at "
                    f"{record.modified_at.isoformat()}; restoring partnersync's value"
                ),
            )
        )
        drifted_records += 1
    return drifted_records
