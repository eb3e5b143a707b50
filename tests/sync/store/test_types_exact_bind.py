"""ExactDecimal's direct PostgreSQL bind of a ``Decimal`` gives what :meth:`exact` gives,
and refuses what it refuses, with the same message."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.dialects import postgresql

from sync.store.types import MONEY, PERCENT, ExactDecimal

VALUES = [
    "1.2345", "3993", "1E+3", "-0", "12.50", "-7.1", "99999999999999.9999",
    "100000000000000", "1.23456", "0.00001", "NaN", "sNaN", "Infinity", "-Infinity",
    "1" + "0" * 40, "1E-40", "123456789012345678901234567890.5",
]  # fmt: skip


@pytest.mark.parametrize("column", [MONEY, PERCENT], ids=["money", "percent"])
@pytest.mark.parametrize("text", VALUES)
def test_postgres_bind_agrees_with_exact(column: ExactDecimal, text: str) -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    value = Decimal(text)
    try:
        expected = column.exact(value)
    except ValueError as exc:
        with pytest.raises(ValueError, match="^" + str(exc).replace("+", r"\+") + "$"):
            column.process_bind_param(value, dialect)
        return
    got = column.process_bind_param(value, dialect)
    assert isinstance(got, Decimal)
    assert str(got) == str(expected)
