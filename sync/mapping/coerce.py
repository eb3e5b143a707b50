"""Coercion of CRM wire values into partnersync types: ``Decimal``, ``date``, UTC ``datetime``.

Salesforce sends typed JSON (numbers, ``"2024-01-31"``, ``"2024-01-31T10:00:00.000+0000"``,
booleans); HubSpot sends every property as a string (``"1234.5"``, ``"2024-01-31"``,
``"2024-01-31T10:00:00Z"`` or epoch milliseconds ``"1706695200000"``, ``"true"``). One
coercer per target type accepts both; anything else raises :class:`CoercionError` with a
reason a person can act on. Blank strings and ``None`` mean "no value".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.wire import parse_instant

__all__ = [
    "COERCERS",
    "CoercionError",
    "to_bool",
    "to_date",
    "to_datetime",
    "to_decimal",
    "to_text",
]


class CoercionError(ValueError):
    """A CRM value that cannot become the partnersync type; the message says why."""


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def to_text(value: Any) -> str | None:
    """A string, stripped; numbers and booleans as the CRM would show them."""
    if type(value) is str:  # the common case, first
        return value.strip() or None
    if _blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | Decimal):
        return str(value).strip()
    if isinstance(value, float):
        return repr(value)
    raise CoercionError(f"expected text, got {type(value).__name__}")


def to_decimal(value: Any) -> Decimal | None:
    """An exact ``Decimal`` from a JSON number or a numeric string; never via binary float.

    A JSON float is converted through its shortest repr (``0.1`` -> ``Decimal("0.1")``),
    which is the exact decimal the CRM sent.
    """
    kind = type(value)
    if kind is float:  # the common cases first: a JSON number
        result = Decimal(repr(value))
        if not result.is_finite():
            raise CoercionError(f"{value!r} is not a finite number")
        return result
    if kind is int:
        return Decimal(value)
    if value is None:
        return None
    if kind is str:  # HubSpot's numbers are strings
        try:
            result = Decimal(value)  # surrounding blanks are allowed, as in value.strip()
        except InvalidOperation:
            if not value.strip():
                return None
            raise CoercionError(f"{value!r} is not a number") from None
        if not result.is_finite():
            raise CoercionError(f"{value!r} is not a finite number")
        return result
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise CoercionError(f"expected a number, got boolean {value}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation:
            raise CoercionError(f"{value!r} is not a number") from None
    else:
        raise CoercionError(f"expected a number, got {type(value).__name__}")
    if not result.is_finite():
        raise CoercionError(f"{value!r} is not a finite number")
    return result


def to_datetime(value: Any) -> datetime | None:
    """A UTC-aware ``datetime`` from ISO 8601 (with an offset) or epoch milliseconds
    (the CRMs' own timestamp parser, :func:`connectors.wire.parse_instant`)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CoercionError(f"{value.isoformat()!r} has no time zone")
        return value.astimezone(UTC)
    if isinstance(value, int) and not isinstance(value, bool):
        return _from_epoch_ms(value)
    if _blank(value):
        return None
    if not isinstance(value, str):
        raise CoercionError(f"expected a date-time, got {type(value).__name__}")
    if _ISO_DATE.match(value.strip()):
        raise CoercionError(f"{value!r} is a date, not a date-time")
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise CoercionError(str(exc)) from None


def to_date(value: Any) -> date | None:
    """A ``date`` from ``YYYY-MM-DD``, or from a date-time / epoch ms (its UTC date)."""
    if value is None:
        return None
    if type(value) is str and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:  # the common case first: exactly YYYY-MM-DD
            return date.fromisoformat(value)
        except ValueError:
            pass  # the checks below say why
    if _blank(value):
        return None
    if isinstance(value, datetime):
        return to_datetime(value).date()  # type: ignore[union-attr]
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise CoercionError(f"{value!r} is not a valid date") from None
    try:
        moment = to_datetime(value)
    except CoercionError:
        raise CoercionError(f"{value!r} is not a date (expected YYYY-MM-DD)") from None
    return moment.date() if moment else None


def to_bool(value: Any) -> bool | None:
    """``True``/``False`` from JSON booleans or the strings ``true``/``false``."""
    if value is True or value is False or value is None:
        return value
    if isinstance(value, str) and value in ("true", "false"):  # HubSpot's, as they come
        return value == "true"
    if _blank(value):
        return None
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise CoercionError(f"{value!r} is not true or false")


def _from_epoch_ms(ms: int) -> datetime:
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise CoercionError(f"{ms} is out of range for epoch milliseconds") from None


COERCERS: dict[str, Callable[[Any], Any]] = {
    "text": to_text,
    "decimal": to_decimal,
    "date": to_date,
    "datetime": to_datetime,
    "bool": to_bool,
}
