"""The audit log: :func:`record` writes a row in the caller's transaction; :func:`audit_rows`
reads them back, newest first.

Principle 5: every state change of a registration, agreement or payout (and every write
the CRM refused, every drifted field) writes one row, in the same transaction as the
change itself, naming who, what, before, after and why. Rows are append-only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from sync.store import AuditEntity, AuditEntry
from sync.store.bulk import insert
from sync.store.models.audit import ACTOR_LENGTH

__all__ = ["AuditRow", "UnknownEntity", "audit_rows", "record", "record_many"]


class UnknownEntity(ValueError):
    """An audit entity kind the store does not know; the message lists the known ones."""

    def __init__(self, entity: str) -> None:
        allowed = ", ".join(kind.value for kind in AuditEntity)
        super().__init__(f"no audited entity kind {entity!r} (expected one of: {allowed})")


def _entity(entity: AuditEntity | str) -> AuditEntity:
    try:
        return AuditEntity(entity)
    except ValueError:
        raise UnknownEntity(str(entity)) from None


@dataclass(frozen=True)
class AuditRow:
    """One audit row for :func:`record_many`: :func:`record`'s arguments, as data."""

    entity: AuditEntity | str
    entity_id: str | int
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    reason: str | None
    actor: str


def _values(row: AuditRow) -> dict[str, Any]:
    return {
        "actor": row.actor[:ACTOR_LENGTH],
        "entity_kind": _entity(row.entity),
        "entity_id": str(row.entity_id),
        "action": row.action,
        # Made plain JSON by the columns' type (JSONDocument), once.
        "before": None if row.before is None else dict(row.before),
        "after": None if row.after is None else dict(row.after),
        "reason": row.reason,
    }


def record_many(session: Session, rows: Sequence[AuditRow], *, at: datetime) -> None:
    """:func:`record` for many rows at once (one statement): what a mirror page decided."""
    if rows:  # the table's insert: no ORM bookkeeping, no ids fetched back
        table = cast(Table, AuditEntry.__table__)
        insert(session, table, [{**_values(row), "at": at} for row in rows])


def record(
    session: Session,
    entity: AuditEntity | str,
    entity_id: str | int,
    action: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str | None,
    actor: str,
    *,
    at: datetime | None = None,
) -> AuditEntry:
    """Add one audit row to ``session`` (written with the caller's transaction).

    ``before``/``after`` hold the changed fields (``None`` for a creation or a removal),
    converted to plain JSON (money as exact text, dates ISO); ``actor`` is a person, an API
    key's name or a job (``push:salesforce``), cut to what the store holds; ``at`` defaults
    to the store's clock at insert.
    """
    row = AuditEntry(**_values(AuditRow(entity, entity_id, action, before, after, reason, actor)))
    if at is not None:
        row.at = at
    session.add(row)
    return row


def audit_rows(
    factory: sessionmaker[Session],
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit rows as plain dicts (at, actor, entity, id, action, before, after, reason),
    newest first; :class:`UnknownEntity` for an entity kind the store does not know."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity is not None:
        query = query.where(AuditEntry.entity_kind == _entity(entity))
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    with factory() as session:
        return [
            {
                "at": row.at,
                "actor": row.actor,
                "entity": row.entity_kind.value,
                "id": row.entity_id,
                "action": row.action,
                "before": row.before,
                "after": row.after,
                "reason": row.reason,
            }
            for row in session.scalars(query)
        ]
