"""Rules the database itself enforces, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sync.store import (
    AccrualTrigger,
    Agreement,
    AgreementRule,
    ApiKey,
    ApiKeyRole,
    AppendOnlyViolation,
    AuditEntry,
    CoSellDirection,
    Crm,
    LedgerEntry,
    LedgerKind,
    MoneyFlow,
    OutboxStatus,
    Payout,
    PayoutEntry,
    PayoutStatus,
    QuarantinedRecord,
    RegistrationStatus,
    RuleBasis,
    transaction,
)
from tests.sync.store import rows

AN_INSTANT = "2026-01-01 00:00:00"  # a literal both dialects read as a timestamp


def committed(factory: sessionmaker[Session], make: Callable[[Session], Any]) -> Any:
    """Commit the row ``make`` builds and return it."""
    with transaction(factory) as session:
        return make(session)


def execute(engine: Engine, statement: str, **params: Any) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement), params)


def unique_violation(constraint: str, columns: str) -> str:
    """The pattern of a unique violation: PostgreSQL names the constraint, SQLite the columns."""
    return f"{constraint}|UNIQUE constraint failed: {re.escape(columns)}\n"


def partner_key_without_partner(session: Session) -> None:
    session.add(
        ApiKey(
            name="k",
            prefix=rows.unique("p")[:11],
            key_hash=rows.unique("h"),
            role=ApiKeyRole.PARTNER,
        )
    )
    session.flush()


@pytest.mark.parametrize(
    ("table", "column", "make"),
    [
        pytest.param("registrations", "status", rows.registration, id="registration-status"),
        pytest.param("registrations", "source", rows.registration, id="registration-source"),
        pytest.param("payouts", "status", rows.payout, id="payout-status"),
        pytest.param("payouts", "flow", rows.payout, id="payout-flow"),
        pytest.param("opportunities", "crm", rows.opportunity, id="opportunity-crm"),
        pytest.param("opportunities", "direction", rows.opportunity, id="co-sell-direction"),
    ],
)
def test_unknown_enum_value_is_refused_by_the_database(
    factory: sessionmaker[Session],
    store_engine: Engine,
    table: str,
    column: str,
    make: Callable[[Session], Any],
) -> None:
    """Raw SQL setting a value no StrEnum defines violates the column's CHECK constraint."""
    key = committed(factory, make).id
    with pytest.raises(IntegrityError, match=f"ck_{table}_{column}"):
        execute(store_engine, f"UPDATE {table} SET {column} = 'bogus' WHERE id = :id", id=key)


@pytest.mark.parametrize(
    ("statement", "constraint"),
    [
        pytest.param(
            "INSERT INTO ledger_entries (partner_id, kind, amount, currency, flow, "
            "idempotency_key, occurred_at, created_at) VALUES (:partner, 'bogus', 0, 'USD', "
            f"'payable', :key, '{AN_INSTANT}', '{AN_INSTANT}')",
            "ck_ledger_entries_kind",
            id="ledger-kind",
        ),
        pytest.param(
            "INSERT INTO audit_log (at, actor, entity_kind, entity_id, action) "
            f"VALUES ('{AN_INSTANT}', 'raw', 'bogus', :key, 'create')",
            "ck_audit_log_entity_kind",
            id="audit-entity-kind",
        ),
    ],
)
def test_unknown_enum_value_is_refused_in_append_only_tables(
    factory: sessionmaker[Session], store_engine: Engine, statement: str, constraint: str
) -> None:
    """The CHECK constraints of the append-only tables refuse unknown values on insert."""
    partner_id = committed(factory, rows.partner).id
    with pytest.raises(IntegrityError, match=constraint):
        execute(store_engine, statement, partner=partner_id, key=rows.unique("k"))


def test_opportunity_is_unique_per_crm_record(factory: sessionmaker[Session]) -> None:
    """(crm, crm_id) identifies one opportunity; the same id in the other CRM is another."""
    crm_id = rows.unique("006")
    committed(factory, lambda s: rows.opportunity(s, crm=Crm.SALESFORCE, crm_id=crm_id))
    committed(factory, lambda s: rows.opportunity(s, crm=Crm.HUBSPOT, crm_id=crm_id))
    with pytest.raises(
        IntegrityError,
        match=unique_violation(
            "uq_opportunities_crm_crm_id", "opportunities.crm, opportunities.crm_id"
        ),
    ):
        committed(factory, lambda s: rows.opportunity(s, crm=Crm.SALESFORCE, crm_id=crm_id))


def test_quarantine_is_unique_per_crm_record(factory: sessionmaker[Session]) -> None:
    """A CRM record is quarantined at most once (a later bad version updates that row)."""
    crm_id = rows.unique("006")

    def quarantine(session: Session) -> QuarantinedRecord:
        record = QuarantinedRecord(crm=Crm.HUBSPOT, crm_id=crm_id, reason="bad", payload={})
        session.add(record)
        session.flush()
        return record

    committed(factory, quarantine)
    with pytest.raises(
        IntegrityError,
        match=unique_violation("uq_quarantine_crm_crm_id", "quarantine.crm, quarantine.crm_id"),
    ):
        committed(factory, quarantine)


def test_ledger_idempotency_key_is_unique(factory: sessionmaker[Session]) -> None:
    """Replaying an accrual with the same idempotency key cannot add a second entry."""
    key = rows.unique("accrual:salesforce:")
    partner_id = committed(factory, rows.partner).id
    committed(factory, lambda s: rows.ledger_entry(s, partner_id=partner_id, idempotency_key=key))
    with pytest.raises(
        IntegrityError,
        match=unique_violation(
            "uq_ledger_entries_idempotency_key", "ledger_entries.idempotency_key"
        ),
    ):
        committed(
            factory, lambda s: rows.ledger_entry(s, partner_id=partner_id, idempotency_key=key)
        )


@pytest.mark.parametrize(
    ("first", "second", "allowed"),
    [
        pytest.param(OutboxStatus.PENDING, OutboxStatus.PENDING, False, id="pending-pending"),
        pytest.param(OutboxStatus.RETRY, OutboxStatus.PENDING, False, id="retry-pending"),
        pytest.param(OutboxStatus.PENDING, OutboxStatus.RETRY, False, id="pending-retry"),
        pytest.param(OutboxStatus.DONE, OutboxStatus.PENDING, True, id="done-pending"),
        pytest.param(OutboxStatus.REJECTED, OutboxStatus.PENDING, True, id="rejected-pending"),
        pytest.param(OutboxStatus.DONE, OutboxStatus.DONE, True, id="done-done"),
    ],
)
def test_outbox_has_one_open_row_per_record(
    factory: sessionmaker[Session], first: OutboxStatus, second: OutboxStatus, allowed: bool
) -> None:
    """A record has at most one pending-or-retry outbox row; finished rows do not count."""
    opportunity = committed(factory, rows.opportunity)
    committed(factory, lambda s: rows.outbox_entry(s, opportunity, status=first))

    def add_second() -> None:
        committed(factory, lambda s: rows.outbox_entry(s, opportunity, status=second))

    if allowed:
        add_second()
    else:
        with pytest.raises(
            IntegrityError,
            match=unique_violation("uq_outbox_open_record", "outbox.crm, outbox.crm_id"),
        ):
            add_second()


@pytest.mark.parametrize(
    ("make", "constraint"),
    [
        pytest.param(
            lambda s: rows.registration(s, status=RegistrationStatus.APPROVED),
            "ck_registrations_approved_protected",
            id="approved-without-protection",
        ),
        pytest.param(
            lambda s: rows.registration(s, amount=Decimal(5), currency=None),
            "ck_registrations_amount_has_currency",
            id="registration-amount-without-currency",
        ),
        pytest.param(
            lambda s: rows.opportunity(s, currency=None),
            "ck_opportunities_money_has_currency",
            id="opportunity-amount-without-currency",
        ),
        pytest.param(
            lambda s: rows.opportunity(s, deleted=True),
            "ck_opportunities_deleted_at_iff_deleted",
            id="deleted-without-time",
        ),
        pytest.param(
            lambda s: rows.payout(s, status=PayoutStatus.PAID),
            "ck_payouts_paid",
            id="paid-without-date",
        ),
        pytest.param(
            lambda s: rows.ledger_entry(s, kind=LedgerKind.REVERSAL, reason="oops"),
            "ck_ledger_entries_reversal_names_entry",
            id="reversal-without-entry",
        ),
        pytest.param(
            partner_key_without_partner,
            "ck_api_keys_role_partner",
            id="partner-key-without-partner",
        ),
        pytest.param(
            lambda s: rows.registration(s, partner_id="NOBODY"),
            "fk_registrations_partner_id_partners|FOREIGN KEY constraint failed",
            id="unknown-partner",
        ),
        pytest.param(
            lambda s: rows.registration(s, extensions_used=-1),
            "ck_registrations_extensions_used",
            id="negative-extensions",
        ),
    ],
)
def test_invariants_are_enforced_by_the_database(
    session: Session, make: Callable[[Session], Any], constraint: str
) -> None:
    """Rows breaking a declared invariant (or a foreign key, on SQLite too) are refused."""
    with pytest.raises(IntegrityError, match=constraint):
        make(session)


def test_reversal_and_payout_link_each_entry_once(factory: sessionmaker[Session]) -> None:
    """An entry is reversed at most once and covered by at most one payout."""
    with transaction(factory) as session:
        accrual = rows.ledger_entry(session)
        payout = rows.payout(session, partner_id=accrual.partner_id)
        session.add(PayoutEntry(ledger_entry_id=accrual.id, payout_id=payout.id))

    def reverse(session: Session) -> LedgerEntry:
        return rows.ledger_entry(
            session,
            partner_id=accrual.partner_id,
            kind=LedgerKind.REVERSAL,
            amount=-accrual.amount,
            reverses_entry_id=accrual.id,
            reason="deal lost",
        )

    def cover_again(session: Session) -> PayoutEntry:
        other = rows.payout(session, partner_id=accrual.partner_id)
        link = PayoutEntry(ledger_entry_id=accrual.id, payout_id=other.id)
        session.add(link)
        session.flush()
        return link

    assert committed(factory, reverse).amount == Decimal("-100.00")
    with factory() as session:
        loaded = session.get(Payout, payout.id)
        assert loaded is not None
        assert [entry.id for entry in loaded.entries] == [accrual.id]
    with pytest.raises(
        IntegrityError,
        match=unique_violation(
            "uq_ledger_entries_reverses_entry_id", "ledger_entries.reverses_entry_id"
        ),
    ):
        committed(factory, reverse)
    with pytest.raises(
        IntegrityError,
        match=unique_violation("pk_payout_entries", "payout_entries.ledger_entry_id"),
    ):
        committed(factory, cover_again)


@pytest.mark.parametrize("action", ["update", "delete"])
@pytest.mark.parametrize(
    ("model", "make", "field", "value"),
    [
        pytest.param(LedgerEntry, rows.ledger_entry, "amount", Decimal("1"), id="ledger"),
        pytest.param(AuditEntry, rows.audit_entry, "reason", "edited", id="audit"),
    ],
)
def test_append_only_rows_refuse_orm_changes(
    factory: sessionmaker[Session],
    model: type[Any],
    make: Callable[[Session], Any],
    field: str,
    value: Any,
    action: str,
) -> None:
    """Changing or deleting a loaded ledger or audit row fails at flush, naming the table."""
    key = committed(factory, make).id
    with factory() as session:
        row = session.get(model, key)
        if action == "delete":
            session.delete(row)
        else:
            setattr(row, field, value)
        with pytest.raises(AppendOnlyViolation, match=f"{model.__tablename__} is append-only"):
            session.flush()


@pytest.mark.parametrize(
    ("make", "statement"),
    [
        pytest.param(rows.ledger_entry, "UPDATE ledger_entries SET amount = 0 WHERE id = :id"),
        pytest.param(rows.ledger_entry, "DELETE FROM ledger_entries WHERE id = :id"),
        pytest.param(rows.audit_entry, "UPDATE audit_log SET actor = 'x' WHERE id = :id"),
        pytest.param(rows.audit_entry, "DELETE FROM audit_log WHERE id = :id"),
    ],
    ids=["ledger-update", "ledger-delete", "audit-update", "audit-delete"],
)
def test_append_only_tables_refuse_raw_sql(
    factory: sessionmaker[Session],
    store_engine: Engine,
    make: Callable[[Session], Any],
    statement: str,
) -> None:
    """Database triggers refuse UPDATE and DELETE on the ledger and the audit log."""
    key = committed(factory, make).id
    with pytest.raises(IntegrityError, match="is append-only"):
        execute(store_engine, statement, id=key)


def test_agreement_rule_period_and_bounds(session: Session) -> None:
    """A rule's ceiling may not be under its floor, nor its period end before its start."""
    partner = rows.partner(session)
    agreement = Agreement(
        partner_id=partner.id, name="ACME", version=1, effective_from=date(2026, 1, 1)
    )
    session.add(agreement)
    session.flush()

    def rule(**values: Any) -> AgreementRule:
        return AgreementRule(
            **{
                "agreement_id": agreement.id,
                "practice": "*",
                "direction": CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD,
                "basis": RuleBasis.AMOUNT,
                "percent": Decimal("10"),
                "flow": MoneyFlow.PAYABLE,
                "trigger": AccrualTrigger.CLOSED_WON,
                "effective_from": date(2026, 1, 1),
                **values,
            }
        )

    session.add(rule(floor=Decimal("100"), ceiling=Decimal("5000")))
    session.flush()
    assert [r.ceiling for r in agreement.rules] == [Decimal("5000")]

    def insert(rule: AgreementRule) -> None:
        with session.begin_nested():
            session.add(rule)
            session.flush()

    for bad, constraint in [
        (
            rule(floor=Decimal("100"), ceiling=Decimal("50")),
            "ck_agreement_rules_ceiling_above_floor",
        ),
        (rule(effective_to=date(2025, 12, 31)), "ck_agreement_rules_period"),
    ]:
        with pytest.raises(IntegrityError, match=constraint):
            insert(bad)
