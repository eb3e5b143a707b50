"""audit.record(): one row in the caller's transaction, plain JSON, errors of the store."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sync.audit import UnknownEntity, audit_rows, record
from sync.store import AppendOnlyViolation, AuditEntity, AuditEntry, transaction


def test_a_row_is_written_in_the_callers_transaction(store: sessionmaker[Session]) -> None:
    """Money and dates become exact text; the row commits (or not) with the caller."""
    at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    with transaction(store) as session:
        record(session, AuditEntity.PAYOUT, 7, "paid", {"status": "approved"},
               {"status": "paid", "amount": Decimal("10.50"), "paid_at": date(2026, 3, 1)},
               "bulk pay PAY-1", "finance@acme", at=at)  # fmt: skip

    def failed_change() -> None:
        with transaction(store) as session:
            record(session, "payout", "8", "paid", None, None, None, "x")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failed_change()
    rows = audit_rows(store)
    assert len(rows) == 1
    assert rows[0]["after"] == {"status": "paid", "amount": "10.50", "paid_at": "2026-03-01"}
    assert (rows[0]["entity"], rows[0]["id"], rows[0]["at"]) == ("payout", "7", at)


def test_unknown_entities_speak_of_the_store(store: sessionmaker[Session]) -> None:
    """An entity kind the store does not know is named with the known ones, not a flag."""
    with transaction(store) as session, pytest.raises(UnknownEntity, match="'spaceship'"):
        record(session, "spaceship", 1, "x", None, None, None, "t")
    with pytest.raises(UnknownEntity, match="expected one of: partner, blocked_account"):
        audit_rows(store, entity="spaceship")


def test_long_actors_are_cut_and_rows_stay_append_only(store: sessionmaker[Session]) -> None:
    with transaction(store) as session:
        record(session, AuditEntity.OPPORTUNITY, 1, "x", None, None, None, "a" * 500)
    with store() as session:
        row = session.scalars(select(AuditEntry)).one()
        assert len(row.actor) == 100
        row.reason = "rewritten"
        with pytest.raises(AppendOnlyViolation):
            session.commit()
