"""Field values in their three forms: JSON from a request, stored Python, JSON on the wire.

Stored values are typed: ``str`` for text, picklists and ids; ``float`` for currency,
double and percent; ``int``; ``bool``; ``date``; UTC ``datetime`` at millisecond precision;
or ``None``. :func:`from_json` checks a request value the way the REST API does and
raises :class:`RecordError` with its code; :func:`python_converter` turns values given to
the Python API into stored ones without API validation; :func:`wire_datetime` renders an
instant as Salesforce does (``2024-01-01T10:00:00.000+0000``). Dates and numbers go to the
wire as they are (orjson writes dates as ``YYYY-MM-DD``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.ids import USER_PREFIX, parse_id
from sandbox.salesforce.schema import FieldDef

__all__ = [
    "NUMBER_TYPES",
    "from_json",
    "memo_millis",
    "millis",
    "python_converter",
    "wire_datetime",
]

NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
_WIRE = "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?")


def millis(value: datetime) -> datetime:
    """``value`` in UTC, cut to milliseconds (what Salesforce keeps); naive is refused."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Salesforce instants need a time zone")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    extra = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - extra) if extra else value


def wire_datetime(value: datetime) -> str:
    """A stored (UTC, millisecond) instant as the REST API writes it.

    Formatted from the fields directly: ``isoformat`` on an aware datetime asks the time
    zone for its offset, which makes it about 60% slower, and query pages render many.
    """
    return _WIRE % (
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond // 1000,
    )


def _label(spec: FieldDef) -> str:
    return spec.label or spec.name


def _wrong_type(spec: FieldDef, raw: Any) -> RecordError:
    return RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{_label(spec)}: value not of required type: {raw}",
        [spec.name],
    )


def _number(spec: FieldDef, raw: Any) -> float | int:
    """A JSON number checked against the field's digits, rounded half up to its scale."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _wrong_type(spec, raw)
    if spec.type == "int" and isinstance(raw, float) and not raw.is_integer():
        raise _wrong_type(spec, raw)
    number = Decimal(repr(raw))
    if abs(number) >= Decimal(10) ** ((spec.precision or 18) - spec.scale):
        raise RecordError(
            "NUMBER_OUTSIDE_VALID_RANGE",
            f"{_label(spec)}: value outside of valid range on numeric field: {raw}",
            [spec.name],
        )
    if spec.type == "int":
        return int(number)
    return float(number.quantize(Decimal(1).scaleb(-spec.scale), ROUND_HALF_UP))


def _text(spec: FieldDef, raw: Any) -> str:
    if not isinstance(raw, str):
        raise _wrong_type(spec, raw)
    if spec.type == "picklist":
        if spec.restricted and raw not in spec.picklist:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"{_label(spec)}: bad value for restricted picklist field: {raw}",
                [spec.name],
            )
        for value in spec.picklist:  # share the schema's string instead of a copy per row
            if value == raw:
                return value
    if spec.length and len(raw) > spec.length:
        raise RecordError(
            "STRING_TOO_LONG",
            f"{_label(spec)}: data value too large: {raw[:80]} (max length={spec.length})",
            [spec.name],
        )
    return raw


def from_json(spec: FieldDef, raw: Any) -> Any:
    """The stored value of a non-null JSON value for ``spec``; :class:`RecordError` if invalid.

    References are only checked for shape here (the org resolves them).
    """
    kind = spec.type
    if kind in NUMBER_TYPES:
        return _number(spec, raw)
    if kind == "boolean":
        if not isinstance(raw, bool):
            raise _wrong_type(spec, raw)
        return raw
    if kind == "date":
        if not isinstance(raw, str) or not _DATE.fullmatch(raw):
            raise _wrong_type(spec, raw)
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise _wrong_type(spec, raw) from None
    if kind == "datetime":
        if not isinstance(raw, str) or not _DATETIME.fullmatch(raw):
            raise _wrong_type(spec, raw)
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise _wrong_type(spec, raw) from None
        return millis(moment if moment.tzinfo else moment.replace(tzinfo=UTC))
    return _text(spec, raw)


def python_converter(
    spec: FieldDef, instant: Callable[[Any], datetime] | None = None
) -> Callable[[Any], Any]:
    """A function storing a non-null Python value for ``spec`` (seeding and tests: fast,
    typed, no API rules such as required fields or restricted picklists).

    ``instant`` converts datetimes; pass one :func:`memo_millis` to every datetime field
    of a write so that equal instants are stored as one object.
    """
    kind = spec.type
    if kind in ("currency", "double", "percent"):
        return _to_float
    if kind == "int":
        return int
    if kind == "boolean":
        return bool
    if kind == "date":
        return _to_date
    if kind == "datetime":
        return instant or memo_millis()
    if kind == "reference":
        return _reference_converter(users=spec.reference_to == "User")
    if kind == "picklist":
        shared = {v: v for v in spec.picklist}
        return lambda v: shared.get(v, v) if isinstance(v, str) else _to_str(v)
    return _to_str


def _to_float(value: Any) -> float:
    if isinstance(value, bool | str):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


def _to_date(value: Any) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"expected a date, got {value!r}")
    return value


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a str, got {value!r}")
    return value


def _reference_converter(*, users: bool = False) -> Callable[[Any], str]:
    """Canonical 18-character ids for 15- or 18-character references (memoised: seeds
    point many rows at the same few accounts). With ``users``, only User ids: users are
    not stored, so their key prefix is all there is to check."""
    known: dict[str, str] = {}

    def convert(value: Any) -> str:
        canonical = known.get(value)
        if canonical is None:
            canonical = parse_id(_to_str(value))
            if canonical is None:
                raise ValueError(f"malformed Salesforce id {value!r}")
            if users and canonical[:3] != USER_PREFIX:
                raise ValueError(f"{value!r} is not a User id (those start with {USER_PREFIX})")
            if len(known) < 50_000:
                known[value] = canonical
        return canonical

    return convert


def memo_millis() -> Callable[[Any], datetime]:
    """:func:`millis` returning the same object for the same input twice in a row, so the
    usual ``LastModifiedDate is SystemModstamp`` pair of a seeded row is stored once."""
    last: list[Any] = [None, None]

    def convert(value: Any) -> datetime:
        if value is last[0]:
            return last[1]  # type: ignore[no-any-return]
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {value!r}")
        last[0], last[1] = value, millis(value)
        return last[1]  # type: ignore[no-any-return]

    return convert
