"""``partnersync audit``: the audit log, newest first, filtered by entity kind and id."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.settings import ConfigError
from sync.store import AuditEntity, AuditEntry

__all__ = ["audit_rows"]


def audit_rows(
    factory: sessionmaker[Session],
    *,
    entity: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Audit rows as plain dicts (at, actor, entity, id, action, before, after, reason)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if entity is not None:
        try:
            kind = AuditEntity(entity)
        except ValueError:
            allowed = ", ".join(k.value for k in AuditEntity)
            raise ConfigError(f"--entity must be one of: {allowed} (got {entity!r})") from None
        query = query.where(AuditEntry.entity_kind == kind)
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
