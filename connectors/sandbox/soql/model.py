"""Query model, syntax-tree nodes, schema protocol and errors of the SOQL engine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar

FieldPath = tuple[str, ...]
R = TypeVar("R")
Getter = Callable[[Any, FieldPath], Any]
Predicate = Callable[[Any, Getter], bool]

TEXT_TYPES = frozenset(
    {"id", "string", "textarea", "picklist", "email", "url", "phone", "reference"}
)
NUMBER_TYPES = frozenset({"currency", "double", "percent", "int"})
MAX_OFFSET = 2000


class SoqlError(Exception):
    """A query error carrying a Salesforce ``errorCode``; ``str(exc)`` is the message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message

    def __str__(self) -> str:
        return self.message


class Schema(Protocol):
    def object_name(self, name: str) -> str | None: ...

    def field(self, sobject: str, path: FieldPath) -> tuple[FieldPath, str] | None: ...


@dataclass(frozen=True)
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Query:
    sobject: str
    fields: tuple[FieldPath, ...]
    count_only: bool
    where: object | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


# --- WHERE syntax tree -------------------------------------------------------------------


@dataclass(frozen=True)
class StrLit:
    """A quoted string: ``value`` is decoded, ``raw`` is the text between the quotes."""

    value: str
    raw: str


Literal = StrLit | Decimal | bool | dt.date | dt.datetime | None


@dataclass(frozen=True)
class And:
    items: tuple[object, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[object, ...]


@dataclass(frozen=True)
class Not:
    item: object


@dataclass(frozen=True)
class Compare:
    path: FieldPath
    op: str  # one of = != < <= > >=
    value: Literal


@dataclass(frozen=True)
class In:
    path: FieldPath
    values: tuple[Literal, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: FieldPath
    pattern: StrLit
