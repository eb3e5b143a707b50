"""The outbox's direct conversion of the values a commission stages agrees with the
general one (``plain(_typed(...))``), refusals included."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from sync.plain import plain
from sync.store import PayoutStatus
from sync.writeback.outbox import _plain_value, _typed


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("commission.accrued", Decimal("120.00")),
        ("commission.accrued", Decimal("3993")),
        ("commission.accrued", Decimal("-0.50")),
        ("commission.accrued", Decimal("1E+3")),
        ("commission.accrued", None),
        ("commission.currency", "EUR"),
        ("commission.currency", "  EUR "),
        ("commission.currency", "   "),
        ("payout.status", PayoutStatus.ACCRUED),
        ("payout.status", "paid"),
        ("payout.amount", Decimal("5000.00")),
        ("payout.reference", "PAY-1"),
        ("payout.paid_at", date(2026, 3, 1)),
        ("payout.paid_at", datetime(2026, 3, 1, 12, tzinfo=UTC)),
    ],
)
def test_direct_conversion_agrees_with_the_general_one(source: str, value: Any) -> None:
    expected = plain(_typed(source, value), path=source)
    got = _plain_value(source, value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    ("source", "value", "error"),
    [
        ("commission.accrued", Decimal("NaN"), ValueError),
        ("commission.accrued", Decimal("Infinity"), ValueError),
        ("commission.accrued", 1.5, TypeError),
        ("payout.reference", "a\x00b", ValueError),
    ],
)
def test_direct_conversion_refuses_what_the_general_one_refuses(
    source: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        plain(_typed(source, value), path=source)
    with pytest.raises(error):
        _plain_value(source, value)
