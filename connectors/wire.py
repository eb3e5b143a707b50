"""What both CRMs' wires share: their timestamps, and JSON bodies with exact money.

:func:`parse_instant` reads every timestamp either CRM sends (Salesforce's
``2024-01-01T10:00:00.000+0000``, HubSpot's ``...Z`` or epoch milliseconds); it is the one
such parser, which the mapping's date-time coercion uses too.

:func:`dumps_exact` writes ``Decimal`` as an exact JSON number. The standard library cannot
emit a ``Decimal`` as a number, and converting to ``float`` would put binary rounding on
money. Each ``Decimal`` is swapped for a unique placeholder string, the document is
encoded, and the placeholders are replaced by the decimal text.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["dumps_exact", "parse_instant"]

_EPOCH_MS = re.compile(r"^-?\d{10,14}$")


def parse_instant(value: str) -> datetime:
    """A CRM timestamp as a UTC-aware datetime: ISO 8601 with an offset or ``Z`` (the
    offset with or without its colon), or epoch milliseconds (10 to 14 digits).

    Raises ``ValueError`` saying why for anything else, a time without a zone included.
    """
    if len(value) > 19 and value[10] == "T":  # the common case first: ISO 8601
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None  # the general path below says why
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
    text = value.strip()
    if _EPOCH_MS.match(text):
        try:
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"{text} is out of range for epoch milliseconds") from None
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return parsed.astimezone(UTC)


def dumps_exact(document: Any) -> bytes:
    """Encode ``document`` as compact JSON; Decimals as exact numbers, dates as ISO text."""
    token = secrets.token_hex(8)
    numbers: list[str] = []

    def swap(value: Any) -> Any:
        if isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"cannot send {value} as a JSON number")
            numbers.append(format(value, "f"))
            return f"@{token}:{len(numbers) - 1}@"
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [swap(item) for item in value]
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value

    text = json.dumps(swap(document), separators=(",", ":"), ensure_ascii=False)
    for index, number in enumerate(numbers):
        text = text.replace(f'"@{token}:{index}@"', number, 1)
    return text.encode("utf-8")
