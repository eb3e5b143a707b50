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

:class:`DriftCorrection` is the mirror's first handler (:mod:`sync.mirror.handlers`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.errors import CrmError
from sync.audit import record
from sync.log import get_logger
from sync.mapping import Target, crm_targets
from sync.mirror.handlers import PageChanges
from sync.store import AuditEntity, Opportunity, OutboxEntry
from sync.writeback.outbox import stage

__all__ = ["DriftCorrection", "UserNames"]

log = get_logger("sync.mirror.drift")


def _desired(session: Session, opportunity_ids: list[int]) -> dict[str, tuple[int, dict[str, Any]]]:
    """crm id -> (opportunity id, every value partnersync asked it to show, latest
    staging wins) for the records that have outbox history: one query."""
    rows = session.execute(
        select(OutboxEntry.crm_id, OutboxEntry.opportunity_id, OutboxEntry.desired)
        .where(OutboxEntry.opportunity_id.in_(opportunity_ids))
        .order_by(OutboxEntry.id)
    )
    desired: dict[str, tuple[int, dict[str, Any]]] = {}
    for crm_id, opportunity_id, values in rows:
        desired.setdefault(crm_id, (opportunity_id, {}))[1].update(values)
    return desired


#: Looks up CRM users' names by id (:meth:`connectors.base.CrmConnector.user_names`).
UserNames = Callable[[Sequence[str]], Mapping[str, str]]


@dataclass(frozen=True)
class _Drift:
    crm_id: str
    opportunity_id: int
    fields: dict[str, Target]  # CRM field -> what partnersync wants it to show
    sources: dict[str, Any]  # the outbound values to stage again
    pulled: Mapping[str, Any]
    by: str | None
    at: datetime


class DriftCorrection:
    """Re-stages and audits every drifted field of a page's changed records.

    ``user_names`` names the users who edited them, where the CRM tells (one call per page
    with drift; when it fails, the audit gives the user's id alone).
    """

    name = "drift"
    before = frozenset({"crm_values"})

    def __init__(self, user_names: UserNames | None = None) -> None:
        self.user_names = user_names

    def __call__(self, session: Session, changes: PageChanges) -> Mapping[str, int]:
        drifts = self._find(session, changes)
        if not drifts:
            return {}
        names = self._names([d.by for d in drifts if d.by])
        crm = changes.crm.value
        for drift in drifts:
            opportunity = session.get(Opportunity, drift.opportunity_id)
            if opportunity is None:  # pragma: no cover - the outbox row points at it
                continue
            stage(session, opportunity, drift.sources)
            name = names.get(drift.by) if drift.by else None
            who = f"{name} ({drift.by})" if name else drift.by or "an unknown user"
            record(
                session,
                AuditEntity.OPPORTUNITY,
                drift.opportunity_id,
                "crm_drift",
                before={field: target.canonical for field, target in drift.fields.items()},
                after={
                    "crm_id": drift.crm_id,
                    "values": {field: drift.pulled.get(field) for field in drift.fields},
                    "modified_by": drift.by,
                    "modified_by_name": name,
                    "modified_at": drift.at,
                },
                reason=(
                    f"{', '.join(sorted(drift.fields))} changed in {crm} by {who} at "
                    f"{drift.at.isoformat()}; restoring partnersync's value"
                ),
                actor=f"{crm}:{drift.by or 'unknown'}",
                at=changes.now,
            )
        return {"drifted": len(drifts)}

    def _find(self, session: Session, changes: PageChanges) -> list[_Drift]:
        # Only records the store held before can have drifted from a value it wrote.
        held = {row["crm_id"]: row for row in changes.rows if row["crm_id"] in changes.before}
        if not held:
            return []
        drifts = []
        desired = _desired(session, [changes.before[crm_id]["id"] for crm_id in held])
        for crm_id, (opportunity_id, wanted) in desired.items():
            row = held[crm_id]
            before = changes.before[crm_id].get("crm_values") or {}
            pulled = row["crm_values"]
            drifted = {
                crm_field: target
                for crm_field, target in crm_targets(changes.mapping, wanted).items()
                if before.get(crm_field) == target.canonical
                and pulled.get(crm_field) != target.canonical
            }
            if drifted:
                sources = {changes.mapping.outbound[name].source for name in drifted}
                by = (changes.inbound.get(crm_id) or {}).get("modified_by")
                drifts.append(
                    _Drift(crm_id, opportunity_id, drifted, {s: wanted[s] for s in sources},
                           pulled, by, row["crm_modified_at"])
                )  # fmt: skip
        return drifts

    def _names(self, user_ids: list[str]) -> Mapping[str, str]:
        if self.user_names is None or not user_ids:
            return {}
        try:
            return self.user_names(user_ids)
        except CrmError as exc:
            log.warning("drift.user_names_failed", error=str(exc))
            return {}
