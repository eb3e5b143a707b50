"""Plain JSON data from partnersync values: the one conversion, used everywhere JSON is made.

Stored JSON documents, audit rows, outbox values and the command line's ``--format json``
all go through :func:`plain`: money (``Decimal``) becomes its exact text (``"12.50"``,
never a binary float), dates and UTC instants ISO 8601 text, enums their value, tuples
lists. A float is refused (money must never have been one) unless ``floats`` (figures
such as seconds in a report) or ``raw`` (a CRM payload kept as received, where it becomes
its shortest repr text).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

__all__ = ["plain"]


def plain(value: Any, *, raw: bool = False, floats: bool = False, path: str = "$") -> Any:
    """``value`` as plain JSON data (str, int, bool, None, list, dict with str keys).

    ``path`` names where a refused value sits (``$.after.amount``). A NUL character, which
    PostgreSQL's JSON cannot hold, is refused, or with ``raw`` kept as the text ``\\u0000``.
    """
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        # A raw payload must always be storable, and PostgreSQL's JSON cannot hold NUL.
        if "\x00" not in value:
            return value
        if raw:
            return value.replace("\x00", "\\u0000")
        raise ValueError(f"{path}: contains a NUL character, which PostgreSQL cannot store")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{path}: {value} is not a finite number")
        return format(value, "f")
    if isinstance(value, float):
        if floats:
            return value
        if raw:
            return repr(value)
        raise TypeError(f"{path}: float {value!r} refused in JSON; use Decimal (stored as text)")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{path}: naive datetime {value.isoformat()} refused")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        document: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: JSON object keys must be strings, got {key!r}")
            # Text, null and whole numbers, most of a document, need no walk (nor a path
            # for errors).
            kind = type(item)
            if item is None or kind is int or kind is bool or (kind is str and "\x00" not in item):
                document[key] = item
            else:
                document[key] = plain(item, raw=raw, floats=floats, path=f"{path}.{key}")
        return document
    if isinstance(value, list | tuple):
        return [
            plain(item, raw=raw, floats=floats, path=f"{path}[{index}]")
            for index, item in enumerate(value)
        ]
    raise TypeError(f"{path}: {type(value).__name__} is not JSON data")
