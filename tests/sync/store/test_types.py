"""Principle 7 at the database boundary: exact Decimals, UTC-aware instants, strict JSON."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from sync.store import (
    AuditEntry,
    Crm,
    LedgerEntry,
    Opportunity,
    QuarantinedRecord,
    Registration,
    RegistrationStatus,
    transaction,
)
from sync.store.types import MONEY
from tests.sync.store import rows

T = TypeVar("T")


def reread(factory: sessionmaker[Session], model: type[T], key: Any) -> T:
    """The row as a new session reads it from the database."""
    with factory() as session:
        row = session.get(model, key)
        assert row is not None
        return row


@pytest.mark.parametrize(
    "amount",
    [
        pytest.param(Decimal("12345678.91"), id="cents"),
        pytest.param(Decimal("0.01"), id="one-cent"),
        pytest.param(Decimal("-0.0001"), id="negative-smallest"),
        pytest.param(Decimal("99999999999999.9999"), id="largest"),
        pytest.param(Decimal("1E+3"), id="exponent"),
        pytest.param(0, id="int-zero"),
    ],
)
def test_money_round_trips_exactly(factory: sessionmaker[Session], amount: Decimal) -> None:
    """A Decimal amount reads back equal, as a Decimal at the column's 4 decimal places."""
    with transaction(factory) as session:
        entry_id = rows.ledger_entry(session, amount=amount).id
    stored = reread(factory, LedgerEntry, entry_id).amount
    assert isinstance(stored, Decimal)
    assert stored == amount
    assert stored.as_tuple().exponent == -4


def test_money_sums_exactly(factory: sessionmaker[Session]) -> None:
    """SUM over money columns is exact on both dialects (ten times 0.1 is 1)."""
    crm_partner = rows.unique("P")
    with transaction(factory) as session:
        rows.partner(session, id=crm_partner)
        for _ in range(10):
            rows.ledger_entry(session, partner_id=crm_partner, amount=Decimal("0.1"))
    with factory() as session:
        total = session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.partner_id == crm_partner)
        )
    assert total == Decimal("1")
    assert isinstance(total, Decimal)


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        pytest.param(0.1, "never floats", id="float"),
        pytest.param(True, "never floats", id="bool"),
        pytest.param(Decimal("0.00001"), "more than 4 decimal places", id="too-precise"),
        pytest.param(Decimal("1E+14"), "out of range", id="too-large"),
        pytest.param(Decimal("NaN"), "not a finite number", id="nan"),
        pytest.param(Decimal("-Infinity"), "not a finite number", id="infinity"),
    ],
)
def test_money_refuses_what_it_cannot_hold(session: Session, amount: Any, message: str) -> None:
    """Floats, excess decimal places and out-of-range values are refused, never rounded."""
    with pytest.raises(StatementError, match=message):
        rows.ledger_entry(session, amount=amount)


@pytest.mark.parametrize("currency", ["usd", "US", "USDT", "", 840])
def test_currency_must_be_an_iso_code(session: Session, currency: Any) -> None:
    """A currency column accepts only 3 capital letters."""
    with pytest.raises(StatementError, match="3-letter ISO 4217"):
        rows.ledger_entry(session, currency=currency)


def test_naive_datetime_is_refused(session: Session) -> None:
    """Writing an instant without a time zone fails before it reaches the database."""
    with pytest.raises(StatementError, match=r"naive datetime .* refused"):
        rows.opportunity(session, crm_modified_at=datetime(2026, 3, 1, 12, 0))


@pytest.mark.parametrize(
    "written",
    [
        pytest.param(datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC), id="utc"),
        pytest.param(
            datetime(2026, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), id="plus-two"
        ),
        pytest.param(
            datetime(2025, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
            id="minus-five-crosses-year",
        ),
    ],
)
def test_aware_datetime_reads_back_in_utc(
    factory: sessionmaker[Session], written: datetime
) -> None:
    """An aware instant reads back as the same instant, UTC-aware, on both dialects."""
    with transaction(factory) as session:
        opportunity_id = rows.opportunity(session, crm_modified_at=written).id
    read = reread(factory, Opportunity, opportunity_id).crm_modified_at
    assert read == written
    assert read.tzinfo is UTC
    assert read.utcoffset() == timedelta(0)


def test_instants_compare_in_queries(factory: sessionmaker[Session]) -> None:
    """A query filter on an instant column matches by instant, whatever the offset given."""
    crm_id = rows.unique("006")
    at = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    with transaction(factory) as session:
        rows.opportunity(session, crm_id=crm_id, crm_modified_at=at)
    same_instant = at.astimezone(timezone(timedelta(hours=9)))
    with factory() as session:
        found = session.scalars(
            select(Opportunity.crm_id).where(
                Opportunity.crm_modified_at >= same_instant, Opportunity.crm_id == crm_id
            )
        ).all()
    assert found == [crm_id]


def test_dates_enums_and_booleans_round_trip(factory: sessionmaker[Session]) -> None:
    """Dates come back as date, enumerations as their StrEnum member, flags as bool."""
    with transaction(factory) as session:
        registration_id = rows.registration(
            session, status=RegistrationStatus.APPROVED, protected_until=date(2026, 6, 30)
        ).id
        opportunity_id = rows.opportunity(session, crm=Crm.HUBSPOT, is_won=True).id
    registration = reread(factory, Registration, registration_id)
    assert registration.protected_until == date(2026, 6, 30)
    assert registration.status is RegistrationStatus.APPROVED
    opportunity = reread(factory, Opportunity, opportunity_id)
    assert opportunity.crm is Crm.HUBSPOT
    assert opportunity.is_won is True
    assert opportunity.deleted is False


def test_json_stores_money_and_instants_as_text(factory: sessionmaker[Session]) -> None:
    """Decimals, dates, instants and enums in a JSON document are stored as exact text."""
    before = {
        "amount": Decimal("1234.50"),
        "paid_at": date(2026, 3, 1),
        "at": datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
        "status": RegistrationStatus.PENDING,
        "lines": [Decimal("0.10"), 2, None, True],
    }
    with transaction(factory) as session:
        entry_id = rows.audit_entry(session, before=before, after=None).id
    entry = reread(factory, AuditEntry, entry_id)
    assert entry.before == {
        "amount": "1234.50",
        "paid_at": "2026-03-01",
        "at": "2026-03-01T12:00:00+00:00",
        "status": "pending",
        "lines": ["0.10", 2, None, True],
    }
    assert entry.after is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        pytest.param({"amount": 12.5}, r"\$\.amount: float 12.5 refused", id="float"),
        pytest.param({"x": [1, 0.1]}, r"\$\.x\[1\]: float", id="nested-float"),
        pytest.param({"at": datetime(2026, 1, 1)}, "naive datetime", id="naive"),
        pytest.param({1: "a"}, "keys must be strings", id="int-key"),
        pytest.param({"x": {1, 2}}, "set is not JSON data", id="set"),
        pytest.param({"ref": "PO\x00-1"}, r"\$\.ref: contains a NUL", id="nul-in-text"),
        pytest.param({"a": {"ref": "\x00"}}, r"\$\.a\.ref: contains a NUL", id="nested-nul"),
    ],
)
def test_json_refuses_floats_and_non_json(
    session: Session, document: dict[Any, Any], message: str
) -> None:
    """A JSON document with a float, a naive instant or non-JSON data is refused."""
    with pytest.raises(StatementError, match=message):
        rows.audit_entry(session, after=document)


def test_raw_json_keeps_floats_as_text(factory: sessionmaker[Session]) -> None:
    """A quarantined CRM payload is kept as received; its floats become their exact text."""
    crm_id = rows.unique("006")
    with transaction(factory) as session:
        record = QuarantinedRecord(
            crm=Crm.SALESFORCE,
            crm_id=crm_id,
            reason="amount: not a number",
            payload={"Amount": 0.1, "Name": "x", "Nested": {"v": 1e21}},
        )
        session.add(record)
        session.flush()
        record_id = record.id
    assert reread(factory, QuarantinedRecord, record_id).payload == {
        "Amount": "0.1",
        "Name": "x",
        "Nested": {"v": "1e+21"},
    }


def test_json_keeps_integers_beyond_64_bits(factory: sessionmaker[Session]) -> None:
    """A CRM payload with a huge integer (which orjson refuses) is written by ``json``."""
    crm_id = rows.unique("006")
    huge = 2**70 + 1
    with transaction(factory) as session:
        record = QuarantinedRecord(crm=Crm.SALESFORCE, crm_id=crm_id, reason="amount: too big",
                                   payload={"Amount": huge, "Name": "x"})  # fmt: skip
        session.add(record)
        session.flush()
        record_id = record.id
    assert reread(factory, QuarantinedRecord, record_id).payload == {"Amount": huge, "Name": "x"}


@given(
    st.one_of(
        st.decimals(allow_nan=True, allow_infinity=True),
        st.decimals(places=4, min_value=-(10**14), max_value=10**14),
        st.builds(lambda d, z: Decimal(f"{d}{'0' * z}"),
                  st.decimals(places=4, min_value=-(10**6), max_value=10**6),
                  st.integers(0, 40)),  # trailing zeros beyond any Decimal context
    )
)  # fmt: skip
def test_money_fast_path_stores_what_exact_allows(value: Decimal) -> None:
    """SQLite's direct conversion of a Decimal agrees with ``exact()`` on every value."""
    dialect = sqlite.dialect()
    try:
        expected: int | None = int(MONEY.exact(value).scaleb(MONEY.scale))
    except (ValueError, TypeError):
        expected = None
    if expected is None:
        with pytest.raises((ValueError, TypeError)):
            MONEY.process_bind_param(value, dialect)
    else:
        assert MONEY.process_bind_param(value, dialect) == expected
