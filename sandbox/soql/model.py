"""The SOQL engine's error, schema port and parse tree (names exactly as written)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

__all__ = [
    "MAX_LIMIT",
    "MAX_OFFSET",
    "NUMBER_TYPES",
    "RELATIVE_DATES",
    "TEXT_TYPES",
    "And",
    "Compare",
    "Condition",
    "FieldPath",
    "In",
    "Like",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "RelativeDate",
    "Schema",
    "SoqlError",
]

FieldPath = tuple[str, ...]

TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "picklist", "email", "url", "phone", "reference"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
MAX_OFFSET = 2000
MAX_LIMIT = 2_147_483_647


class SoqlError(Exception):
    """A query Salesforce would refuse; ``error_code`` is its ``errorCode``.

    ``str(exc) == exc.message``. ``position`` is the 0-based offset in the query text of a
    syntax error, when known.
    """

    def __init__(self, error_code: str, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.position = position

    def __str__(self) -> str:
        return self.message


class Schema(Protocol):
    """The org's metadata, as the engine needs it (all look-ups case-insensitive)."""

    def object_name(self, name: str) -> str | None:
        """Canonical sObject name, or None when there is no such object."""
        ...

    def field(self, sobject: str, path: FieldPath) -> tuple[FieldPath, str] | None:
        """Canonical path and Salesforce type of the path's last element, or None."""
        ...


# Relative date literals: name -> (takes ":n", first day offset, day offset past the end).
# Ranges are whole days [start, end) counted from today (UTC), as Salesforce documents them:
# LAST_N_DAYS:n includes today, NEXT_N_DAYS:n starts tomorrow.
RELATIVE_DATES: dict[str, tuple[bool, Callable[[int], tuple[int, int]]]] = {
    "TODAY": (False, lambda _: (0, 1)),
    "YESTERDAY": (False, lambda _: (-1, 0)),
    "TOMORROW": (False, lambda _: (1, 2)),
    "LAST_N_DAYS": (True, lambda n: (-n, 1)),
    "NEXT_N_DAYS": (True, lambda n: (1, n + 1)),
    "N_DAYS_AGO": (True, lambda n: (-n, -n + 1)),
}


@dataclass(frozen=True)
class RelativeDate:
    """A relative date literal such as ``TODAY`` or ``LAST_N_DAYS:30`` (``n`` when it has one)."""

    name: str
    n: int | None = None

    def bounds(self, today: dt.date) -> tuple[dt.date, dt.date]:
        """The whole days it covers, as ``[start, end)``."""
        first, past_end = RELATIVE_DATES[self.name][1](self.n or 0)
        return _shift(today, first), _shift(today, past_end)

    def __str__(self) -> str:
        return self.name if self.n is None else f"{self.name}:{self.n}"


def _shift(day: dt.date, days: int) -> dt.date:
    """``day`` moved by ``days``, clamped to the calendar's ends."""
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        return dt.date.max if days > 0 else dt.date.min


# A literal as parsed: a quoted string is ``str`` (escapes decoded), a number ``Decimal``.
Literal = str | Decimal | bool | dt.date | dt.datetime | RelativeDate | None


@dataclass(frozen=True)
class Compare:
    """``path op value`` with ``op`` one of ``= != < <= > >=`` (``<>`` is read as ``!=``)."""

    path: FieldPath
    op: str
    value: Literal


@dataclass(frozen=True)
class In:
    """``path [NOT] IN (values...)``."""

    path: FieldPath
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``path LIKE 'pattern'``; ``pattern`` is the text between the quotes, escapes undecoded."""

    path: FieldPath
    pattern: str


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


Condition = Compare | In | Like | Not | And | Or


@dataclass(frozen=True)
class OrderItem:
    """One ORDER BY key; ``nulls_last`` defaults to False for ASC and True for DESC."""

    path: FieldPath
    descending: bool = False
    nulls_last: bool = False


@dataclass(frozen=True)
class Query:
    """The parse tree of one SOQL query, names as written."""

    sobject: str
    fields: tuple[FieldPath, ...]
    count_only: bool
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None
