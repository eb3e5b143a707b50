"""Column types that hold principle 7 at the database boundary, on SQLite and PostgreSQL.

- :class:`UTCDateTime`: instants are UTC-aware ``datetime``; a naive value is refused on
  write, and every value read back is UTC-aware (SQLite has no time zones: it stores UTC).
- :class:`ExactDecimal` (:data:`MONEY`, :data:`PERCENT`): ``Decimal`` only, never ``float``;
  a value with more decimal places than the column holds is refused, not rounded.
  PostgreSQL stores ``NUMERIC(p, s)``. SQLite has no exact decimal type (its ``NUMERIC``
  affinity turns 12345678.91 into a binary float), so it stores the value scaled to an
  integer (``12345678.91`` at scale 4 is ``123456789100``): exact, ordered, and ``SUM``
  stays exact; the type converts back on read. Arithmetic other than SUM/MIN/MAX belongs
  in Python, not SQL.
- :class:`CurrencyCode`: the 3-letter ISO 4217 code that sits next to every amount.
- :class:`JSONDocument`: JSON (JSONB on PostgreSQL) whose money is stored as strings:
  ``Decimal`` becomes its exact text, dates and instants ISO text, and ``float`` is refused.
- :func:`enum_type`: a ``StrEnum`` as a string column with a CHECK constraint listing its
  values, so the database refuses what the code does not know.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Context, Decimal, Inexact
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Enum, Integer, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

from sync.plain import plain

__all__ = [
    "ID",
    "MONEY",
    "PERCENT",
    "CurrencyCode",
    "ExactDecimal",
    "JSONDocument",
    "UTCDateTime",
    "enum_type",
    "utcnow",
]

#: Surrogate keys: BIGINT on PostgreSQL; INTEGER on SQLite, where only an
#: ``INTEGER PRIMARY KEY`` column is the auto-incrementing rowid (it is 64-bit there).
ID: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")

_CURRENCY = re.compile(r"^[A-Z]{3}$")
#: Decimal arithmetic that raises rather than round.
_EXACT = Context(traps=[Inexact])
_NOT_WHOLE = Decimal("NaN")


def utcnow() -> datetime:
    """The current instant, UTC-aware: the default of ``created_at``-style columns."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An instant: UTC-aware ``datetime`` in and out; naive values are refused on write."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(DateTime())
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__} {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} refused: instants must be UTC-aware"
            )
        value = value.astimezone(UTC)
        # SQLite has no time zone type: store the UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        to_utc = self.process_bind_param

        def process(value: Any) -> str | None:
            if type(value) is datetime and value.tzinfo is UTC:  # the common case, direct
                return value.replace(tzinfo=None).isoformat(" ", "microseconds")
            naive = to_utc(value, dialect)
            # SQLAlchemy's SQLite DATETIME text (YYYY-MM-DD HH:MM:SS.ffffff), written by
            # the C isoformat rather than by %-formatting seven fields: a bulk upsert
            # converts one instant per row.
            return None if naive is None else naive.isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """An exact decimal with ``precision`` digits, ``scale`` of them after the point.

    Accepts ``Decimal`` and ``int``; refuses ``float``, non-finite values, values out of
    range and values with more than ``scale`` decimal places (never rounds). Reads back a
    ``Decimal`` with exactly ``scale`` decimal places on both dialects.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        if not 0 <= scale <= precision <= 18:
            # 18 digits is what a signed 64-bit integer holds on SQLite.
            raise ValueError(f"unsupported precision/scale {precision}/{scale}")
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)
        self._limit = Decimal(10) ** (precision - scale)
        self._scaled_limit = Decimal(10) ** precision

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def exact(self, value: Any) -> Decimal:
        """``value`` as a ``Decimal`` at this column's scale; ``ValueError`` if it does not fit."""
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(
                f"expected a Decimal, got {type(value).__name__} {value!r}: "
                "money and percents are never floats"
            )
        number = value if type(value) is Decimal else Decimal(value)
        if not number.is_finite():
            raise ValueError(f"{number} is not a finite number")
        if abs(number) >= self._limit:
            raise ValueError(
                f"{number} is out of range: at most {self.precision - self.scale} digits "
                "before the decimal point"
            )
        exact = number.quantize(self._quantum)
        if exact != number:
            raise ValueError(f"{number} has more than {self.scale} decimal places")
        return exact

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | int | None:
        if value is None:
            return None
        if type(value) is Decimal and dialect.name == "sqlite":  # the common case, direct
            try:
                scaled = value.scaleb(self.scale, context=_EXACT)
            except Inexact:  # more digits than a Decimal context holds: see exact()
                scaled = _NOT_WHOLE
            if scaled.is_finite() and abs(scaled) < self._scaled_limit:
                whole = int(scaled)
                if whole == scaled:  # nothing beyond the scale: exact
                    return whole
        elif type(value) is Decimal:  # PostgreSQL's common case, direct
            try:
                quantized = value.quantize(self._quantum, context=_EXACT)
            except Inexact:  # more places than the scale: refused below
                quantized = _NOT_WHOLE
            if quantized.is_finite() and abs(quantized) < self._limit:
                return quantized
        exact = self.exact(value)  # the general case, and why a value is refused
        return int(exact.scaleb(self.scale)) if dialect.name == "sqlite" else exact

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """On SQLite, :meth:`process_result_value` without its per-value dispatch: a
        report reads hundreds of thousands of amounts."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        shift = -self.scale

        def scaled(value: Any) -> Decimal | None:
            return None if value is None else Decimal(int(value)).scaleb(shift)

        return scaled


#: Money amounts: 14 digits before the point, 4 after (3-decimal currencies, sub-cent
#: basis amounts); the currency sits in a :class:`CurrencyCode` column next to it.
MONEY = ExactDecimal(18, 4)

#: Percents: ``10`` means 10 %; up to 99999.9999.
PERCENT = ExactDecimal(9, 4)


class CurrencyCode(TypeDecorator[str]):
    """A 3-letter ISO 4217 currency code in capitals (``USD``); anything else is refused."""

    impl = String(3)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not _CURRENCY.match(value):
            raise ValueError(f"currency must be a 3-letter ISO 4217 code in capitals: {value!r}")
        return value


class JSONDocument(TypeDecorator[Any]):
    """JSON (JSONB on PostgreSQL) that never holds a binary float.

    On write, ``Decimal`` becomes its exact text (``"12.50"``), ``date`` and aware
    ``datetime`` ISO text, enums their value, tuples lists; ``float`` is refused unless
    ``raw`` (a CRM payload kept as received), where it is stored as its shortest repr text
    (and a NUL character, which PostgreSQL's JSON cannot hold, as the text ``\\u0000``;
    elsewhere a NUL is refused).
    Values read back are plain JSON: strings where money was. Assign a new value to change
    a document: in-place mutation of a loaded dict is not tracked.
    """

    impl = JSON(none_as_null=True)
    cache_ok = True

    def __init__(self, raw: bool = False) -> None:
        super().__init__()
        self.raw = raw

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if not self.raw and type(value) is dict:
            # Text and nulls only (a record's CRM values, an outbox row's): plain as it is.
            # A loop, not all() over a generator: the mirror and the outbox write one a row.
            for k, v in value.items():
                if type(k) is not str or (v is not None and (type(v) is not str or "\x00" in v)):
                    break
            else:
                return value
        return None if value is None else plain(value, raw=self.raw)


def enum_type(enum: type[StrEnum], name: str) -> Enum:
    """A string column for ``enum`` whose CHECK constraint lists exactly its values.

    ``name`` (the column name, by convention) names the constraint
    ``ck_<table>_<name>``. The column is 32 characters wide so a new value rarely needs
    more than a new CHECK.
    """
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        validate_strings=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
    )
