"""Valid rows for store tests, with unique keys so tests can share a database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from sync.store import (
    AuditEntity,
    AuditEntry,
    Crm,
    LedgerEntry,
    LedgerKind,
    MoneyFlow,
    Opportunity,
    OutboxEntry,
    Partner,
    Payout,
    Registration,
    RegistrationSource,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def partner(session: Session, **values: Any) -> Partner:
    row = Partner(**{"id": unique("P"), "name": "Acme", "tier": "gold", **values})
    session.add(row)
    session.flush()
    return row


def opportunity(session: Session, **values: Any) -> Opportunity:
    row = Opportunity(
        **{
            "crm": Crm.SALESFORCE,
            "crm_id": unique("006"),
            "name": "Acme renewal",
            "amount": Decimal("1000.00"),
            "currency": "USD",
            "crm_modified_at": NOW,
            **values,
        }
    )
    session.add(row)
    session.flush()
    return row


def registration(session: Session, **values: Any) -> Registration:
    if "partner_id" not in values:
        values["partner_id"] = partner(session).id
    row = Registration(
        **{
            "customer_name": "Globex",
            "customer_name_key": "globex",
            "amount": Decimal("5000"),
            "currency": "EUR",
            "source": RegistrationSource.CLI,
            **values,
        }
    )
    session.add(row)
    session.flush()
    return row


def ledger_entry(session: Session, **values: Any) -> LedgerEntry:
    if "partner_id" not in values:
        values["partner_id"] = partner(session).id
    row = LedgerEntry(
        **{
            "kind": LedgerKind.ACCRUAL,
            "amount": Decimal("100.00"),
            "currency": "USD",
            "flow": MoneyFlow.PAYABLE,
            "idempotency_key": unique("accrual:"),
            "occurred_at": NOW,
            **values,
        }
    )
    session.add(row)
    session.flush()
    return row


def payout(session: Session, **values: Any) -> Payout:
    if "partner_id" not in values:
        values["partner_id"] = partner(session).id
    row = Payout(
        **{
            "amount": Decimal("100.00"),
            "currency": "USD",
            "flow": MoneyFlow.PAYABLE,
            "due_on": date(2026, 4, 1),
            **values,
        }
    )
    session.add(row)
    session.flush()
    return row


def outbox_entry(session: Session, opportunity_row: Opportunity, **values: Any) -> OutboxEntry:
    row = OutboxEntry(
        **{
            "crm": opportunity_row.crm,
            "crm_id": opportunity_row.crm_id,
            "opportunity_id": opportunity_row.id,
            "desired": {"registration.status": "approved"},
            **values,
        }
    )
    session.add(row)
    session.flush()
    return row


def audit_entry(session: Session, **values: Any) -> AuditEntry:
    row = AuditEntry(
        **{
            "actor": "tester",
            "entity_kind": AuditEntity.PAYOUT,
            "entity_id": "1",
            "action": "approve",
            "before": {"status": "accrued"},
            "after": {"status": "approved"},
            **values,
        }
    )
    session.add(row)
    session.flush()
    return row
