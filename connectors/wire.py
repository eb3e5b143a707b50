"""JSON for CRM request bodies with ``Decimal`` written exactly, as a JSON number.

The standard library cannot emit a ``Decimal`` as a number, and converting to ``float``
would put binary rounding on money. Each ``Decimal`` is swapped for a unique placeholder
string, the document is encoded, and the placeholders are replaced by the decimal text.
"""

from __future__ import annotations

import json
import secrets
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["dumps_exact"]


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
