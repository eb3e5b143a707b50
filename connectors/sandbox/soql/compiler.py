"""Compiles a parsed :class:`Query` against a schema into filter and sort closures."""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any

from connectors.sandbox.soql.model import (
    NUMBER_TYPES,
    TEXT_TYPES,
    And,
    Compare,
    FieldPath,
    Getter,
    In,
    Like,
    Literal,
    Not,
    Or,
    Predicate,
    Query,
    R,
    Schema,
    SoqlError,
    StrLit,
)
from connectors.sandbox.soql.parser import ESCAPES as _ESCAPES

_UTC = dt.UTC
_DATETIME = dt.datetime

# --- compiler ----------------------------------------------------------------------------

_CMP: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _norm_text(v: Any) -> Any:
    return v.casefold() if isinstance(v, str) else str(v).casefold()


def _norm_number(v: Any) -> Any:
    if isinstance(v, float):
        return None if v != v else Decimal(repr(v))
    return v


def _norm_bool(v: Any) -> Any:
    return bool(v)


def _norm_date(v: Any) -> Any:
    return v.date() if isinstance(v, dt.datetime) else v


def _norm_datetime(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=_UTC) if v.tzinfo is None else v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day, tzinfo=_UTC)
    return v


def _normalizer(ftype: str) -> Callable[[Any], Any]:
    if ftype in NUMBER_TYPES:
        return _norm_number
    if ftype == "boolean":
        return _norm_bool
    if ftype == "date":
        return _norm_date
    if ftype == "datetime":
        return _norm_datetime
    return _norm_text


def _type_error(name: str, ftype: str) -> SoqlError:
    if ftype in TEXT_TYPES:
        return SoqlError(
            "INVALID_FIELD",
            f"value of filter criterion for field '{name}' must be of type string "
            "and should be enclosed in quotes",
        )
    label = {"datetime": "dateTime", "int": "double", "currency": "double", "percent": "double"}
    return SoqlError(
        "INVALID_FIELD",
        f"value of filter criterion for field '{name}' must be of type "
        f"{label.get(ftype, ftype)} and should not be enclosed in quotes",
    )


def _literal_value(name: str, ftype: str, lit: Literal) -> Any:
    """Check ``lit`` against the field type and return its normalized comparison value."""
    if lit is None:
        return None
    ok: bool
    if ftype in NUMBER_TYPES:
        ok = isinstance(lit, Decimal)
    elif ftype == "boolean":
        ok = isinstance(lit, bool)
    elif ftype == "date":
        ok = isinstance(lit, dt.date) and not isinstance(lit, dt.datetime)
    elif ftype == "datetime":
        ok = isinstance(lit, dt.datetime)
    else:
        ok = isinstance(lit, StrLit)
    if not ok:
        raise _type_error(name, ftype)
    return lit.value.casefold() if isinstance(lit, StrLit) else lit


def _like_regex(raw: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            parts.append(re.escape(_ESCAPES.get(nxt, nxt)))
            i += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _compare_pred(path: FieldPath, op: str, norm: Callable[[Any], Any], lit: Any) -> Predicate:
    if lit is None:
        if op == "=":
            return lambda r, get: get(r, path) is None
        if op == "!=":
            return lambda r, get: get(r, path) is not None
        return lambda r, get: False
    cmp = _CMP[op]
    if_null = op == "!="

    def pred(r: Any, get: Getter) -> bool:
        v = get(r, path)
        if v is None:
            return if_null
        v = norm(v)
        return if_null if v is None else bool(cmp(v, lit))

    return pred


def _in_pred(
    path: FieldPath, norm: Callable[[Any], Any], values: list[Any], neg: bool
) -> Predicate:
    has_null = any(v is None for v in values)
    wanted = frozenset(v for v in values if v is not None)

    def pred(r: Any, get: Getter) -> bool:
        v = get(r, path)
        if v is not None:
            v = norm(v)
        found = has_null if v is None else v in wanted
        return found != neg

    return pred


def _like_pred(path: FieldPath, rx: re.Pattern[str]) -> Predicate:
    def pred(r: Any, get: Getter) -> bool:
        v = get(r, path)
        return v is not None and rx.fullmatch(v if isinstance(v, str) else str(v)) is not None

    return pred


def _all(preds: Sequence[Predicate]) -> Predicate:
    return lambda r, get: all(p(r, get) for p in preds)


def _any(preds: Sequence[Predicate]) -> Predicate:
    return lambda r, get: any(p(r, get) for p in preds)


def _not(pred: Predicate) -> Predicate:
    return lambda r, get: not pred(r, get)


class CompiledQuery:
    """A schema-checked query: ``run`` filters, sorts, then applies OFFSET and LIMIT."""

    def __init__(self, query: Query, schema: Schema) -> None:
        sobject = schema.object_name(query.sobject)
        if sobject is None:
            raise SoqlError("INVALID_TYPE", f"sObject type '{query.sobject}' is not supported.")
        self.sobject: str = sobject
        self._schema = schema
        select: list[FieldPath] = []
        for path in query.fields:
            canonical = self._field(path)[0]
            if canonical not in select:
                select.append(canonical)
        self.select: tuple[FieldPath, ...] = tuple(select)
        self.count_only: bool = query.count_only
        self.limit: int | None = query.limit
        self.offset: int | None = query.offset
        self._where = None if query.where is None else self._compile(query.where)
        self._order: list[tuple[bool, list[tuple[FieldPath, str, int]]]] = []
        for item in query.order_by:
            canonical, ftype = self._field(item.path)
            null_flag = 0 if (not item.nulls_last) != item.descending else 1
            entry = (canonical, ftype, null_flag)
            if self._order and self._order[-1][0] == item.descending:
                self._order[-1][1].append(entry)
            else:
                self._order.append((item.descending, [entry]))

    def _field(self, path: FieldPath) -> tuple[FieldPath, str]:
        found = self._schema.field(self.sobject, path)
        if found is None:
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{'.'.join(path)}' on entity '{self.sobject}'. If you are "
                "attempting to use a custom field, be sure to append the '__c' after the custom "
                "field name. Please reference your WSDL or the describe call for the "
                "appropriate names.",
            )
        return found

    def _compile(self, node: object) -> Predicate:
        if isinstance(node, And):
            return _all([self._compile(n) for n in node.items])
        if isinstance(node, Or):
            return _any([self._compile(n) for n in node.items])
        if isinstance(node, Not):
            return _not(self._compile(node.item))
        if isinstance(node, Compare | In | Like):
            path, ftype = self._field(node.path)
            name = path[-1]
            if isinstance(node, Like):
                if ftype not in TEXT_TYPES:
                    raise SoqlError(
                        "INVALID_FIELD", f"invalid operator on field '{name}': LIKE needs text"
                    )
                return _like_pred(path, _like_regex(node.pattern.raw))
            norm = _normalizer(ftype)
            if isinstance(node, In):
                values = [_literal_value(name, ftype, v) for v in node.values]
                return _in_pred(path, norm, values, node.negated)
            return _compare_pred(path, node.op, norm, _literal_value(name, ftype, node.value))
        raise SoqlError("MALFORMED_QUERY", f"unsupported condition: {node!r}")

    def matches(self, record: R, get: Callable[[R, FieldPath], Any]) -> bool:
        return self._where is None or self._where(record, get)

    def run(self, records: Iterable[R], get: Callable[[R, FieldPath], Any]) -> list[R]:
        where = self._where
        rows = list(records) if where is None else [r for r in records if where(r, get)]
        # Stable sorts compose: sort by the last group of same-direction keys first.
        for descending, entries in reversed(self._order):
            cols = [_sort_column(rows, path, ftype, flag, get) for path, ftype, flag in entries]
            keys: list[Any] = cols[0] if len(cols) == 1 else list(zip(*cols, strict=True))
            order = sorted(range(len(rows)), key=keys.__getitem__, reverse=descending)
            rows = [rows[i] for i in order]
        start = self.offset or 0
        end = None if self.limit is None else start + self.limit
        return rows[start:end]


def _sort_column(
    rows: list[Any], path: FieldPath, ftype: str, null_flag: int, get: Getter
) -> list[Any]:
    """Sort keys of one ORDER BY field, computed column-wise for speed."""
    raw = [get(r, path) for r in rows]
    norm = _normalizer(ftype)
    if norm is _norm_text:
        vals = [v.casefold() if type(v) is str else None if v is None else norm(v) for v in raw]
    elif norm is _norm_datetime:
        vals = [v if v is None or (type(v) is _DATETIME and v.tzinfo) else norm(v) for v in raw]
    else:
        vals = [None if v is None else norm(v) for v in raw]
    if not any(v is None for v in vals):
        return vals
    non_null = 1 - null_flag
    return [(null_flag,) if v is None else (non_null, v) for v in vals]


def compile_query(query: Query, schema: Schema) -> CompiledQuery:
    """Resolve names against ``schema`` and compile the WHERE clause to closures."""
    return CompiledQuery(query, schema)
