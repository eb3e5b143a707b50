"""Column-at-a-time evaluation of a compiled WHERE clause.

A selector takes the row positions still in play and returns those that pass, in order.
Each leaf fetches its field's values for those positions in one list comprehension and
tests them in another, so a condition costs one ``get`` call per row and no Python call
per comparison. A column fetched for every row is kept for ORDER BY to reuse.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter
from typing import Any

from sandbox.soql.model import NUMBER_TYPES, FieldPath, RelativeDate

__all__ = [
    "Column",
    "Context",
    "Selector",
    "all_of",
    "any_of",
    "compare",
    "is_in",
    "like",
    "like_regex",
    "negate",
    "normalizer",
]

_UTC = dt.UTC
_NONE = type(None)
_TZINFO = attrgetter("tzinfo")

Normalize = Callable[[list[Any]], list[Any]]


@dataclass(frozen=True)
class Column:
    """A resolved field: canonical path, Salesforce type and how its values compare."""

    path: FieldPath
    type: str
    normalize: Normalize


@dataclass
class Context:
    """One evaluation: the rows, the caller's getter, today (UTC) and fetched columns."""

    rows: Sequence[Any]
    get: Callable[[Any, FieldPath], Any]
    today: dt.date | None = None
    everything: range = field(init=False)
    _full: dict[FieldPath, list[Any]] = field(default_factory=dict, init=False)
    _some: dict[FieldPath, dict[int, Any]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.everything = range(len(self.rows))

    def column(self, col: Column, idx: Sequence[int]) -> list[Any]:
        """Comparable values of ``col`` for row positions ``idx`` (None for null)."""
        full = self._full.get(col.path)
        if full is not None:
            return full if idx is self.everything else [full[i] for i in idx]
        get, path, rows = self.get, col.path, self.rows
        if idx is self.everything:
            values = col.normalize([get(r, path) for r in rows])
            self._full[path] = values
            return values
        return col.normalize([get(rows[i], path) for i in idx])

    def lookup(self, col: Column, idx: Sequence[int]) -> Callable[[int], Any]:
        """Row position -> comparable value of ``col``, fetching what ``idx`` still lacks."""
        full = self._full.get(col.path)
        if full is None and idx is self.everything:
            full = self.column(col, idx)
        if full is not None:
            return full.__getitem__
        known = self._some.setdefault(col.path, {})
        missing = [i for i in idx if i not in known]
        if missing:
            known.update(zip(missing, self.column(col, missing), strict=True))
        return known.__getitem__


Selector = Callable[[Context, Sequence[int]], list[int]]

# --- comparable values per field type (whole columns; fast path when already clean) -------


def _text_value(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v if v is None else v.casefold()
    return ("true" if v else "false") if isinstance(v, bool) else str(v).casefold()


def _text(raw: list[Any]) -> list[Any]:
    return [v.casefold() if v.__class__ is str else _text_value(v) for v in raw]


def _number_value(v: Any) -> Any:
    """Floats become the Decimal of their shortest repr, so 0.1 equals the literal 0.1."""
    if isinstance(v, float):
        return None if v != v else Decimal(repr(v))
    return v


def _number(raw: list[Any]) -> list[Any]:
    if float not in set(map(type, raw)):
        return raw
    return [_number_value(v) for v in raw]


def _boolean(raw: list[Any]) -> list[Any]:
    if set(map(type, raw)) <= {bool, _NONE}:
        return raw
    return [None if v is None else bool(v) for v in raw]


def _date_value(v: Any) -> Any:
    return v.date() if isinstance(v, dt.datetime) else v


def _date(raw: list[Any]) -> list[Any]:
    if set(map(type, raw)) <= {dt.date, _NONE}:
        return raw
    return [_date_value(v) for v in raw]


def _datetime_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=_UTC) if v.tzinfo is None else v
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day, tzinfo=_UTC)
    return v


def _datetime(raw: list[Any]) -> list[Any]:
    # Naive values are read as UTC; aware ones compare correctly whatever their offset.
    if set(map(type, raw)) <= {dt.datetime, _NONE} and None not in map(_TZINFO, filter(None, raw)):
        return raw
    return [_datetime_value(v) for v in raw]


def normalizer(ftype: str) -> Normalize:
    """The column normalizer for a Salesforce field type (text is case-folded)."""
    if ftype in NUMBER_TYPES:
        return _number
    return {"boolean": _boolean, "date": _date, "datetime": _datetime}.get(ftype, _text)


# --- leaves --------------------------------------------------------------------------------

_Test = Callable[[Sequence[int], list[Any], Any], list[int]]


def _eq(idx: Sequence[int], vals: list[Any], lit: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v == lit]


def _ne(idx: Sequence[int], vals: list[Any], lit: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v != lit]


def _lt(idx: Sequence[int], vals: list[Any], lit: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v is not None and v < lit]


def _le(idx: Sequence[int], vals: list[Any], lit: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v is not None and v <= lit]


def _gt(idx: Sequence[int], vals: list[Any], lit: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v is not None and v > lit]


def _ge(idx: Sequence[int], vals: list[Any], lit: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v is not None and v >= lit]


def _is_null(idx: Sequence[int], vals: list[Any], _: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v is None]


def _not_null(idx: Sequence[int], vals: list[Any], _: Any) -> list[int]:
    return [i for i, v in zip(idx, vals, strict=True) if v is not None]


def _never(idx: Sequence[int], vals: list[Any], _: Any) -> list[int]:
    return []


_TESTS: dict[str, _Test] = {"=": _eq, "!=": _ne, "<": _lt, "<=": _le, ">": _gt, ">=": _ge}
_NULL_TESTS: dict[str, _Test] = {"=": _is_null, "!=": _not_null}
# A relative date's comparisons against its [start, end) bounds: (test, which bound).
_RELATIVE_TESTS: dict[str, tuple[_Test, int]] = {
    "<": (_lt, 0),
    ">=": (_ge, 0),
    "<=": (_lt, 1),
    ">": (_ge, 1),
}


def _bounds(ctx: Context, rel: RelativeDate, ftype: str) -> tuple[Any, Any]:
    if ctx.today is None:
        raise ValueError("relative date literals need today's date")
    start, end = rel.bounds(ctx.today)
    if ftype != "datetime":
        return start, end
    return dt.datetime.combine(start, dt.time(), _UTC), dt.datetime.combine(end, dt.time(), _UTC)


def compare(col: Column, op: str, lit: Any) -> Selector:
    """``col op lit``; ``lit`` is comparable (normalized), None or a relative date."""
    if isinstance(lit, RelativeDate):
        return _compare_relative(col, op, lit)
    test = _NULL_TESTS.get(op, _never) if lit is None else _TESTS[op]
    return lambda ctx, idx: test(idx, ctx.column(col, idx), lit)


def _compare_relative(col: Column, op: str, rel: RelativeDate) -> Selector:
    def select(ctx: Context, idx: Sequence[int]) -> list[int]:
        lo, hi = _bounds(ctx, rel, col.type)
        vals = ctx.column(col, idx)
        if op in _RELATIVE_TESTS:
            test, which = _RELATIVE_TESTS[op]
            return test(idx, vals, (lo, hi)[which])
        inside = op == "="
        pairs = zip(idx, vals, strict=True)
        return [i for i, v in pairs if (v is not None and lo <= v < hi) == inside]

    return select


def is_in(col: Column, values: Iterable[Any], negated: bool) -> Selector:
    """``col [NOT] IN (values)``; a null in the list matches null values."""
    plain = frozenset(v for v in values if not isinstance(v, RelativeDate))
    relative = [v for v in values if isinstance(v, RelativeDate)]
    if not relative:
        if negated:
            return lambda ctx, idx: [
                i for i, v in zip(idx, ctx.column(col, idx), strict=True) if v not in plain
            ]
        return lambda ctx, idx: [
            i for i, v in zip(idx, ctx.column(col, idx), strict=True) if v in plain
        ]

    def select(ctx: Context, idx: Sequence[int]) -> list[int]:
        ranges = [_bounds(ctx, rel, col.type) for rel in relative]
        return [
            i
            for i, v in zip(idx, ctx.column(col, idx), strict=True)
            if (v in plain or (v is not None and any(lo <= v < hi for lo, hi in ranges))) != negated
        ]

    return select


def like_regex(chars: Iterable[tuple[str, bool]]) -> re.Pattern[str]:
    """A LIKE pattern as a regex for ``fullmatch`` that cannot backtrack catastrophically.

    Between ``%`` wildcards each fixed-width segment is matched at its earliest place
    (an atomic group), which finds a match whenever one exists.
    """
    segments: list[list[str]] = [[]]
    for ch, literal in chars:
        if not literal and ch == "%":
            segments.append([])
        elif not literal and ch == "_":
            segments[-1].append(".")
        else:
            segments[-1].append(re.escape(ch.casefold()))
    parts = ["".join(seg) for seg in segments]
    if len(parts) == 1:
        source = parts[0]
    else:
        middle = "".join(f"(?>.*?{p})" for p in parts[1:-1] if p)
        source = f"{parts[0]}{middle}.*{parts[-1]}"
    return re.compile(source, re.IGNORECASE | re.DOTALL)


def like(col: Column, rx: re.Pattern[str]) -> Selector:
    """``col LIKE pattern`` (case-insensitive; null never matches)."""
    match = rx.fullmatch
    return lambda ctx, idx: [
        i
        for i, v in zip(idx, ctx.column(col, idx), strict=True)
        if v is not None and match(v) is not None
    ]


# --- boolean structure ---------------------------------------------------------------------


def all_of(selectors: Sequence[Selector]) -> Selector:
    """AND: each selector narrows what the previous one kept."""

    def select(ctx: Context, idx: Sequence[int]) -> list[int]:
        for selector in selectors:
            if not idx:
                break
            idx = selector(ctx, idx)
        return list(idx)

    return select


def any_of(selectors: Sequence[Selector]) -> Selector:
    """OR: each selector sees only the rows no earlier one has taken."""

    def select(ctx: Context, idx: Sequence[int]) -> list[int]:
        taken: set[int] = set()
        rest = idx
        for selector in selectors:
            got = selector(ctx, rest)
            if got:
                taken.update(got)
                rest = [i for i in rest if i not in taken]
                if not rest:
                    break
        return [i for i in idx if i in taken]

    return select


def negate(selector: Selector) -> Selector:
    """NOT: the rows the selector does not take."""

    def select(ctx: Context, idx: Sequence[int]) -> list[int]:
        taken = set(selector(ctx, idx))
        return [i for i in idx if i not in taken]

    return select
