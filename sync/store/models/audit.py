"""The audit log: who changed what, when, from what to what, and why (principle 5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.enums import AuditEntity
from sync.store.models.base import Base, append_only
from sync.store.types import ID, JSONDocument, UTCDateTime, enum_type, utcnow

__all__ = ["ACTOR_LENGTH", "AuditEntry"]

#: The longest actor name the log holds (longer ones are cut).
ACTOR_LENGTH = 100


@append_only
class AuditEntry(Base):
    """One state change, written in the same transaction as the change itself.

    ``entity_id`` is text because partner ids are; ``before``/``after`` are the changed
    fields as JSON (money as text), ``None`` for a creation or a removal. ``actor`` is a
    person, an API key name, or a job (``push:salesforce``). Rows are never changed or
    deleted.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_entity_kind_entity_id_at", "entity_kind", "entity_id", "at"),
        Index("ix_audit_log_at", "at"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    entity_kind: Mapped[AuditEntity] = mapped_column(enum_type(AuditEntity, "entity_kind"))
    entity_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    reason: Mapped[str | None] = mapped_column(Text)

    def __repr__(self) -> str:
        return (
            f"AuditEntry(id={self.id!r}, {self.entity_kind}:{self.entity_id} "
            f"{self.action!r} by {self.actor!r})"
        )
