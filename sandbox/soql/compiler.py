"""Checks a parsed :class:`Query` against a schema and compiles it for fast evaluation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sandbox.soql import evaluate as ev
from sandbox.soql.lexer import like_chars
from sandbox.soql.model import (
    NUMBER_TYPES,
    TEXT_TYPES,
    And,
    Condition,
    FieldPath,
    In,
    Like,
    Literal,
    Not,
    Or,
    OrderItem,
    Query,
    RelativeDate,
    Schema,
    SoqlError,
)
from sandbox.soql.sorting import SortKey, order

__all__ = ["CompiledQuery", "compile_query"]

R = TypeVar("R")
_UTC = dt.UTC

_CUSTOM_FIELD_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the "
    "custom field name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_CUSTOM_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after "
    "the custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)
_CUSTOM_OBJECT_HINT = (
    "If you are attempting to use a custom object, be sure to append the '__c' after the "
    "entity name. Please reference your WSDL or the describe call for the appropriate names."
)


def _literal_fits(ftype: str, lit: Literal) -> bool:
    """Whether a non-null literal may be compared with a field of type ``ftype``."""
    if ftype in TEXT_TYPES:
        return isinstance(lit, str)
    if ftype in NUMBER_TYPES:
        return isinstance(lit, Decimal)
    if ftype == "boolean":
        return isinstance(lit, bool)
    if ftype == "date":
        return isinstance(lit, RelativeDate) or (
            isinstance(lit, dt.date) and not isinstance(lit, dt.datetime)
        )
    if ftype == "datetime":
        return isinstance(lit, dt.datetime | RelativeDate)
    return False


# How Salesforce names a field type in "must be of type ..." messages.
_TYPE_LABELS = {"datetime": "dateTime", "int": "double", "currency": "double", "percent": "double"}


def _type_error(name: str, ftype: str) -> SoqlError:
    if ftype in TEXT_TYPES:
        wanted = "string and should be enclosed in quotes"
    else:
        wanted = f"{_TYPE_LABELS.get(ftype, ftype)} and should not be enclosed in quotes"
    return SoqlError(
        "INVALID_FIELD", f"value of filter criterion for field '{name}' must be of type {wanted}"
    )


class _Compiler:
    def __init__(self, schema: Schema, sobject: str) -> None:
        self.schema = schema
        self.sobject = sobject
        self.relative = False

    def column(self, path: FieldPath) -> ev.Column:
        found = self.schema.field(self.sobject, path)
        if found is None:
            raise self.unknown_field(path)
        canonical, ftype = found
        return ev.Column(canonical, ftype, ev.normalizer(ftype))

    def unknown_field(self, path: FieldPath) -> SoqlError:
        if len(path) == 1:
            return SoqlError(
                "INVALID_FIELD",
                f"No such column '{path[0]}' on entity '{self.sobject}'. {_CUSTOM_FIELD_HINT}",
            )
        via_id = self.schema.field(self.sobject, (path[0], "Id"))
        if via_id is None:
            return SoqlError(
                "INVALID_FIELD",
                f"Didn't understand relationship '{path[0]}' in field path. "
                f"{_CUSTOM_RELATIONSHIP_HINT}",
            )
        return SoqlError(
            "INVALID_FIELD",
            f"No such column '{path[-1]}' on entity '{via_id[0][0]}'. {_CUSTOM_FIELD_HINT}",
        )

    def literal(self, col: ev.Column, lit: Literal) -> Any:
        if lit is None:
            return None
        if not _literal_fits(col.type, lit):
            raise _type_error(col.path[-1], col.type)
        self.relative = self.relative or isinstance(lit, RelativeDate)
        # Compare as the column's normalized values look: text case-folded.
        return lit.casefold() if isinstance(lit, str) else lit

    def condition(self, node: Condition) -> ev.Selector:
        if isinstance(node, And):
            return ev.all_of([self.condition(n) for n in node.items])
        if isinstance(node, Or):
            return ev.any_of([self.condition(n) for n in node.items])
        if isinstance(node, Not):
            return ev.negate(self.condition(node.item))
        col = self.column(node.path)
        if isinstance(node, Like):
            if col.type not in TEXT_TYPES:
                raise SoqlError(
                    "INVALID_FIELD",
                    f"invalid operator on field '{col.path[-1]}': LIKE applies to text fields",
                )
            return ev.like(col, ev.like_regex(like_chars(node.pattern)))
        if isinstance(node, In):
            return ev.is_in(col, [self.literal(col, v) for v in node.values], node.negated)
        return ev.compare(col, node.op, self.literal(col, node.value))


class CompiledQuery:
    """A schema-checked query; ``run`` filters, sorts, then applies OFFSET and LIMIT.

    ``sobject`` and the paths in ``select`` and ``order_by`` are canonical; ``select``
    keeps SELECT order without duplicates.
    """

    def __init__(
        self,
        *,
        sobject: str,
        select: tuple[FieldPath, ...],
        count_only: bool,
        limit: int | None,
        offset: int | None,
        where: ev.Selector | None,
        sort_keys: tuple[SortKey, ...],
        relative_dates: bool,
    ) -> None:
        self.sobject = sobject
        self.select = select
        self.count_only = count_only
        self.limit = limit
        self.offset = offset
        self.order_by = tuple(
            OrderItem(k.column.path, k.descending, k.nulls_last) for k in sort_keys
        )
        self._where = where
        self._sort_keys = sort_keys
        self._relative_dates = relative_dates

    def _context(
        self, rows: Sequence[Any], get: Callable[[Any, FieldPath], Any], now: dt.datetime | None
    ) -> ev.Context:
        today = None
        if self._relative_dates:
            now = now or dt.datetime.now(_UTC)
            today = (now if now.tzinfo else now.replace(tzinfo=_UTC)).astimezone(_UTC).date()
        return ev.Context(rows, get, today)

    def run(
        self,
        records: Iterable[R],
        get: Callable[[R, FieldPath], Any],
        *,
        now: dt.datetime | None = None,
    ) -> list[R]:
        """Records passing WHERE, stably sorted by ORDER BY, after OFFSET, up to LIMIT.

        ``get(record, path)`` returns the typed value or None; ``now`` (default: the
        current time; naive means UTC) anchors TODAY, LAST_N_DAYS:n and friends.
        """
        rows: Sequence[R] = records if isinstance(records, list | tuple) else list(records)
        start = self.offset or 0
        stop = None if self.limit is None else start + self.limit
        if self._where is None and (self.count_only or not self._sort_keys):
            return list(rows[start:stop])
        ctx = self._context(rows, get, now)
        idx: Sequence[int] = ctx.everything
        if self._where is not None:
            idx = self._where(ctx, idx)
        if self._sort_keys and not self.count_only:  # a count does not need the order
            idx = order(ctx, idx, self._sort_keys)
        return [rows[i] for i in idx[start:stop]]

    def matches(
        self, record: R, get: Callable[[R, FieldPath], Any], *, now: dt.datetime | None = None
    ) -> bool:
        """Whether one record passes the WHERE clause."""
        if self._where is None:
            return True
        ctx = self._context([record], get, now)
        return bool(self._where(ctx, ctx.everything))


def compile_query(query: Query, schema: Schema) -> CompiledQuery:
    """Resolve names against ``schema``, type-check literals and build the evaluators.

    Raises SoqlError INVALID_TYPE for an unknown object and INVALID_FIELD for an unknown
    field, a literal of the wrong type or LIKE on a non-text field.
    """
    sobject = schema.object_name(query.sobject)
    if sobject is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. {_CUSTOM_OBJECT_HINT}",
        )
    compiler = _Compiler(schema, sobject)
    select = tuple(dict.fromkeys(compiler.column(p).path for p in query.fields))
    where = None if query.where is None else compiler.condition(query.where)
    keys = tuple(
        SortKey(compiler.column(item.path), item.descending, item.nulls_last)
        for item in query.order_by
    )
    return CompiledQuery(
        sobject=sobject,
        select=select,
        count_only=query.count_only,
        limit=query.limit,
        offset=query.offset,
        where=where,
        sort_keys=keys,
        relative_dates=compiler.relative,
    )
