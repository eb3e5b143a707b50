"""Coercion of CRM wire values: every CRM type into Decimal, date, UTC datetime, bool, text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.mapping.coerce import CoercionError, to_bool, to_date, to_datetime, to_decimal, to_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(1234.5, Decimal("1234.5"), id="sf-currency-float"),
        pytest.param(0.1, Decimal("0.1"), id="float-shortest-repr"),
        pytest.param(100, Decimal(100), id="sf-int"),
        pytest.param("1234.50", Decimal("1234.50"), id="hubspot-string"),
        pytest.param(" 7 ", Decimal(7), id="spaces"),
        pytest.param("-12.5", Decimal("-12.5"), id="negative"),
        pytest.param("1e3", Decimal("1e3"), id="exponent"),
        pytest.param(Decimal("9.99"), Decimal("9.99"), id="decimal"),
        pytest.param(None, None, id="null"),
        pytest.param("", None, id="empty-string"),
        pytest.param("   ", None, id="blank-string"),
    ],
)
def test_to_decimal(raw: Any, expected: Decimal | None) -> None:
    """Numbers from either CRM become exact Decimals; blanks become None."""
    assert to_decimal(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("abc", id="word"),
        pytest.param("1,5", id="comma-decimal"),
        pytest.param("NaN", id="nan"),
        pytest.param("Infinity", id="infinity"),
        pytest.param(float("inf"), id="float-inf"),
        pytest.param(True, id="boolean"),
        pytest.param([1], id="list"),
    ],
)
def test_to_decimal_rejects(raw: Any) -> None:
    """Anything that is not a finite number is refused with a reason."""
    with pytest.raises(CoercionError):
        to_decimal(raw)


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=2, min_value=-(10**12), max_value=10**12
    )
)
def test_decimal_string_round_trip(value: Decimal) -> None:
    """A HubSpot amount string becomes exactly the Decimal it spells."""
    assert to_decimal(str(value)) == value


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_float_becomes_its_shortest_repr(value: float) -> None:
    """A Salesforce JSON number becomes the decimal the CRM printed, not binary noise."""
    assert to_decimal(value) == Decimal(repr(value))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("2024-01-01T10:00:00.000+0000", datetime(2024, 1, 1, 10, tzinfo=UTC),
                     id="sf-datetime"),
        pytest.param("2024-01-01T10:00:00Z", datetime(2024, 1, 1, 10, tzinfo=UTC), id="iso-z"),
        pytest.param("2024-01-01T12:00:00+02:00", datetime(2024, 1, 1, 10, tzinfo=UTC),
                     id="offset-normalised"),
        pytest.param("2024-01-01T10:00:00.123Z",
                     datetime(2024, 1, 1, 10, 0, 0, 123000, tzinfo=UTC), id="millis"),
        pytest.param("1704103200000", datetime(2024, 1, 1, 10, tzinfo=UTC), id="hubspot-epoch-ms"),
        pytest.param(1704103200000, datetime(2024, 1, 1, 10, tzinfo=UTC), id="epoch-ms-int"),
        pytest.param(datetime(2024, 1, 1, 11, tzinfo=timezone(timedelta(hours=1))),
                     datetime(2024, 1, 1, 10, tzinfo=UTC), id="aware-datetime"),
        pytest.param(" 2024-01-01T10:00:00z ", datetime(2024, 1, 1, 10, tzinfo=UTC),
                     id="blanks-and-lowercase-z"),
        pytest.param("2024-01-01T10:00:00.5-0130", datetime(2024, 1, 1, 11, 30, 0, 500000,
                     tzinfo=UTC), id="offset-without-colon"),
        pytest.param(None, None, id="null"),
    ],
)  # fmt: skip
def test_to_datetime(raw: Any, expected: datetime | None) -> None:
    """Date-times from either CRM become UTC-aware datetimes."""
    result = to_datetime(raw)
    assert result == expected
    if result is not None:
        assert result.tzinfo is UTC


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("2024-01-01T10:00:00", id="naive-string"),
        pytest.param("2024-01-01T10:00:00.000000", id="naive-string-long"),
        pytest.param("2024-13-01T10:00:00Z", id="impossible-month"),
        pytest.param(datetime(2024, 1, 1), id="naive-datetime"),
        pytest.param("2024-01-01", id="date-only"),
        pytest.param("yesterday", id="word"),
        pytest.param(1.5, id="float"),
        pytest.param("-99999999999999", id="epoch-out-of-range"),
    ],
)
def test_to_datetime_rejects(raw: Any) -> None:
    """A date-time without a zone, or not a date-time at all, is refused."""
    with pytest.raises(CoercionError):
        to_datetime(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("2024-02-29", date(2024, 2, 29), id="sf-date"),
        pytest.param("1706659200000", date(2024, 1, 31), id="hubspot-midnight-ms"),
        pytest.param("2024-01-31T23:30:00-02:00", date(2024, 2, 1), id="datetime-utc-date"),
        pytest.param(" 2024-02-29 ", date(2024, 2, 29), id="blanks"),
        pytest.param(None, None, id="null"),
        pytest.param(date(2024, 1, 1), date(2024, 1, 1), id="date"),
        pytest.param("", None, id="empty"),
    ],
)
def test_to_date(raw: Any, expected: date | None) -> None:
    """Dates from either CRM become dates (a date-time gives its UTC date)."""
    assert to_date(raw) == expected


@pytest.mark.parametrize(
    "raw", ["2024-02-30", "31/01/2024", "soon", 20240101.0, "2024-W01-1", "2024-01-0x"]
)
def test_to_date_rejects(raw: Any) -> None:
    """Impossible or foreign-format dates are refused."""
    with pytest.raises(CoercionError):
        to_date(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("false", False),
        ("FALSE", False),
        (" True ", True),
        (None, None),
        ("", None),
    ],
)
def test_to_bool(raw: Any, expected: bool | None) -> None:
    """Booleans come as JSON booleans (Salesforce) or strings (HubSpot)."""
    assert to_bool(raw) is expected


@pytest.mark.parametrize("raw", ["yes", "1", 1, 0])
def test_to_bool_rejects(raw: Any) -> None:
    """Only true and false are booleans."""
    with pytest.raises(CoercionError):
        to_bool(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  Acme  ", "Acme"), (42, "42"), (True, "true"), (1.5, "1.5"), (None, None), ("", None)],
)
def test_to_text(raw: Any, expected: str | None) -> None:
    """Text is stripped; other scalars print as the CRM shows them."""
    assert to_text(raw) == expected
