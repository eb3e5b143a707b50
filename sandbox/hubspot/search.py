"""CRM search: filter groups, sorts, free-text query, paging and the 10,000-result window.

``POST /crm/v3/objects/{type}/search`` semantics, as HubSpot documents them:

- ``filterGroups`` are OR-ed, the filters of a group AND-ed; at most 5 groups, 10 filters
  per group and 25 in all;
- operators ``EQ NEQ LT LTE GT GTE BETWEEN IN NOT_IN HAS_PROPERTY NOT_HAS_PROPERTY
  CONTAINS_TOKEN NOT_CONTAINS_TOKEN``; numbers compare numerically, instants by time
  (epoch milliseconds or ISO), strings case-insensitively; the negative operators also
  match records without a value;
- ``sorts`` as ``[{"propertyName", "direction"}]`` or strings (``"-amount"``); records
  without a value sort last; ties keep id order; no sort means id order;
- ``limit`` at most 200 (default 10) and no more than 10,000 results reachable:
  ``after + limit`` past 10,000 is refused with a 400.

The sorted match list of a query is computed once and cached per table version, so paging
through 10,000 results of a 100k-record table costs one scan and sort, then slices.

Search is the one read that lags behind writes (``search_lag_seconds``, see :mod:`.lag`):
while some record was written within the lag, matches are computed over the records as
the index shows them, with a scan and no cache.
"""

from __future__ import annotations

import fnmatch
import operator
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from sandbox.hubspot.errors import PortalError, bad_request
from sandbox.hubspot.records import ObjectTable, Projection, Row
from sandbox.hubspot.schema import PropertyDef, Source
from sandbox.hubspot.values import Invalid, comparable, operand, parse_instant

if TYPE_CHECKING:
    from sandbox.hubspot.portal import HubSpotPortal

__all__ = ["RESULT_CAP", "SearchCache", "search"]

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 10
MAX_FILTERS = 25
MAX_LIMIT = 200
DEFAULT_LIMIT = 10
#: Results reachable through one search (``after + limit`` may not go past it).
RESULT_CAP = 10_000
_CACHE_SIZE = 8
_TOKEN = re.compile(r"\w+")
_ID = operator.attrgetter("id")

Predicate = Callable[[Row], bool]
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "EQ": operator.eq,
    "NEQ": operator.ne,
    "LT": operator.lt,
    "LTE": operator.le,
    "GT": operator.gt,
    "GTE": operator.ge,
}


def _same(value: Any) -> Any:
    return value


class SearchCache:
    """The sorted matches of recent queries, keyed by table version and query."""

    def __init__(self, size: int = _CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[Any, ...], list[Row]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> list[Row] | None:
        rows = self._entries.get(key)
        if rows is not None:
            self._entries.move_to_end(key)
        return rows

    def put(self, key: tuple[Any, ...], rows: list[Row]) -> None:
        self._entries[key] = rows
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


def _problem(message: str, **context: list[str]) -> PortalError:
    detail: dict[str, Any] = {"message": message}
    if context:
        detail["context"] = context
    return bad_request(message, errors=[detail])


def _property(table: ObjectTable, name: object, what: str) -> PropertyDef:
    prop = table.schema.get(name) if isinstance(name, str) else None
    if prop is None:
        raise _problem(f"{what} names an unknown property: {name!r}", propertyName=[str(name)])
    return prop


def _operand(prop: PropertyDef, raw: object, op: str, field: str) -> Any:
    if raw is None:
        raise _problem(f"Operator {op} on {prop.name} requires '{field}'.")
    try:
        return operand(prop, raw)
    except Invalid as exc:
        raise _problem(f"Invalid {field} for {prop.name}: {exc.message}") from None


def _tokens(value: Any) -> list[str]:
    return _TOKEN.findall(str(value).lower())


def _contains(needle: str) -> Callable[[Any], bool]:
    if "*" in needle:
        pattern = re.compile(fnmatch.translate(needle))
        return lambda value: (
            bool(pattern.match(str(value).lower()))
            or any(pattern.match(token) for token in _tokens(value))
        )
    wanted = _tokens(needle)
    return lambda value: bool(wanted) and all(w in _tokens(value) for w in wanted)


def _filter(table: ObjectTable, raw: Any) -> Predicate:
    if not isinstance(raw, dict):
        raise _problem("Each filter must be an object.")
    op = str(raw.get("operator"))
    prop = _property(table, raw.get("propertyName"), "A filter")
    get = table.getter(prop)
    key = comparable(prop) or _same
    if op in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        want = op == "HAS_PROPERTY"
        return lambda row: ((v := get(row)) is not None and v != "") is want
    if op in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise _problem(f"Operator {op} on {prop.name} requires a non-empty 'values' array.")
        allowed = frozenset(_operand(prop, v, op, "values") for v in values)
        if op == "IN":
            return lambda row: (v := get(row)) is not None and key(v) in allowed
        return lambda row: (v := get(row)) is None or key(v) not in allowed
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        needle = raw.get("value")
        if needle is None:
            raise _problem(f"Operator {op} on {prop.name} requires 'value'.")
        contains = _contains(str(needle).lower())
        if op == "CONTAINS_TOKEN":
            return lambda row: (v := get(row)) is not None and contains(v)
        return lambda row: (v := get(row)) is None or not contains(v)
    if op == "BETWEEN":
        low = _operand(prop, raw.get("value"), op, "value")
        high = _operand(prop, raw.get("highValue"), op, "highValue")
        return lambda row: (v := get(row)) is not None and low <= key(v) <= high
    compare = _COMPARE.get(op)
    if compare is None:
        raise _problem(f"Unknown filter operator: {op!r}", operator=[op])
    target = _operand(prop, raw.get("value"), op, "value")
    unset = op == "NEQ"  # what a record without a value gives
    if prop.source in (Source.CREATED, Source.UPDATED):
        return lambda row: compare(get(row), target)  # never unset, already comparable
    if key is _same:
        return lambda row: unset if (v := get(row)) is None else compare(v, target)
    return lambda row: unset if (v := get(row)) is None else compare(key(v), target)


def _group(table: ObjectTable, raw: Any) -> Predicate:
    filters = raw.get("filters") if isinstance(raw, dict) else None
    if not isinstance(filters, list) or not filters:
        raise _problem("Each filterGroup needs a non-empty 'filters' array.")
    if len(filters) > MAX_FILTERS_PER_GROUP:
        raise _problem(
            f"A filterGroup has {len(filters)} filters; the maximum is {MAX_FILTERS_PER_GROUP}."
        )
    compiled = [_filter(table, f) for f in filters]
    if len(compiled) == 1:
        return compiled[0]
    return lambda row: all(test(row) for test in compiled)


def _where(table: ObjectTable, groups: Any, query: Any) -> Predicate | None:
    tests: list[Predicate] = []
    if groups:
        if not isinstance(groups, list):
            raise _problem("'filterGroups' must be an array.")
        if len(groups) > MAX_GROUPS:
            raise _problem(f"Got {len(groups)} filterGroups; the maximum is {MAX_GROUPS}.")
        total = sum(len(g.get("filters") or []) for g in groups if isinstance(g, dict))
        if total > MAX_FILTERS:
            raise _problem(f"Got {total} filters in all; the maximum is {MAX_FILTERS}.")
        compiled = [_group(table, g) for g in groups]
        tests.append(compiled[0] if len(compiled) == 1 else _any(compiled))
    if isinstance(query, str) and query.strip():
        tests.append(_text_query(table, query))
    if not tests:
        return None
    if len(tests) == 1:
        return tests[0]
    return lambda row: all(test(row) for test in tests)


def _any(tests: list[Predicate]) -> Predicate:
    return lambda row: any(test(row) for test in tests)


def _text_query(table: ObjectTable, query: str) -> Predicate:
    """Every word of ``query`` starts a word of one of the default searchable properties."""
    words = _tokens(query)
    getters = [table.getter(p) for p in map(table.schema.get, table.schema.searchable) if p]

    def test(row: Row) -> bool:
        tokens = [t for get in getters if (v := get(row)) is not None for t in _tokens(v)]
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return test


def _sorts(table: ObjectTable, raw: Any) -> list[tuple[PropertyDef, bool]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise _problem("'sorts' must be an array.")
    sorts: list[tuple[PropertyDef, bool]] = []
    for item in raw:
        if isinstance(item, str):
            descending = item.startswith("-")
            name: object = item.lstrip("-+")
        elif isinstance(item, dict):
            name = item.get("propertyName")
            direction = str(item.get("direction") or "ASCENDING").upper()
            if direction not in ("ASCENDING", "DESCENDING"):
                raise _problem(f"Unknown sort direction: {direction!r}")
            descending = direction == "DESCENDING"
        else:
            raise _problem("Each sort must be a property name or an object.")
        sorts.append((_property(table, name, "A sort"), descending))
    return sorts


def _order(table: ObjectTable, rows: list[Row], sorts: list[tuple[PropertyDef, bool]]) -> None:
    """Sort in place: stable passes from the last sort to the first, nulls last."""
    for prop, descending in reversed(sorts):
        get = table.getter(prop)
        if prop.source is Source.ID:
            rows.sort(key=_ID, reverse=descending)
            continue
        if prop.source in (Source.CREATED, Source.UPDATED):
            rows.sort(key=get, reverse=descending)
            continue
        key = comparable(prop) or _same
        present = [row for row in rows if get(row) is not None]
        absent = [row for row in rows if get(row) is None]
        present.sort(key=lambda row: key(get(row)), reverse=descending)
        rows[:] = present + absent


_LOWER = {"GT": True, "GTE": False, "EQ": False, "BETWEEN": False}
_UPPER = {"LT": True, "LTE": False, "EQ": False}


def _candidates(
    table: ObjectTable, groups: Any, query: Any, sorts: list[tuple[PropertyDef, bool]]
) -> tuple[list[Row], bool] | None:
    """Live rows in the order of a time sort, cut to the group's range on that instant.

    ``None`` when the first sort is not ``createdate`` / ``hs_lastmodifieddate``. The cut
    is never tighter than the filters; it is *exact* (the second item) when those range
    filters are all there is and the only sort is ascending: then the slice is the answer.
    """
    if not sorts or sorts[0][0].source not in (Source.CREATED, Source.UPDATED):
        return None
    prop = sorts[0][0]
    # Bounds as tuples that order by tightness: low (instant, open), high (instant, closed).
    low: tuple[int, bool] | None = None
    high: tuple[int, bool] | None = None
    filters = groups[0].get("filters") if isinstance(groups, list) and len(groups) == 1 else []
    exact = len(sorts) == 1 and not sorts[0][1] and not query and (not groups or bool(filters))
    for item in filters or []:
        op = item.get("operator")
        value = parse_instant(str(item.get("value")))
        if item.get("propertyName") != prop.name or value is None:
            exact = False
            continue
        if op in _LOWER and (low is None or (value, _LOWER[op]) > low):
            low = (value, _LOWER[op])
        if op in _UPPER and (high is None or (value, not _UPPER[op]) < high):
            high = (value, not _UPPER[op])
        top = parse_instant(str(item.get("highValue"))) if op == "BETWEEN" else None
        if top is not None and (high is None or (top, True) < high):
            high = (top, True)
        if (op not in _LOWER and op not in _UPPER) or (op == "BETWEEN" and top is None):
            exact = False
    rows = table.by_time[prop.source].span(
        low[0] if low else None,
        high[0] if high else None,
        low_open=bool(low and low[1]),
        high_open=bool(high and not high[1]),
    )
    return rows, exact


def _matches(
    table: ObjectTable,
    where: Predicate | None,
    cut: tuple[list[Row], bool] | None,
    sorts: list[tuple[PropertyDef, bool]],
) -> list[Row]:
    """The sorted matches. Rows are scanned in id order (memory order, the fastest) unless
    a time index cut them to an exact answer or to a small share of the table."""
    if cut is not None and cut[1]:
        return cut[0]
    if cut is not None and len(cut[0]) * 4 < len(table.rows):
        candidates = cut[0]
    else:
        candidates = [row for row in table.rows if row.archived_at is None]
    matches = candidates if where is None else [row for row in candidates if where(row)]
    _order(table, matches, sorts)
    return matches


def _lagged_matches(
    table: ObjectTable, shown: dict[int, Row | None], groups: Any, sorts_raw: Any, query: Any
) -> list[Row]:
    """The sorted matches among the records as the lagging index shows them (a full scan,
    not cached: what the index shows changes by the second)."""
    where = _where(table, groups, query)
    sorts = _sorts(table, sorts_raw)
    assert table.lag is not None
    rows = table.lag.rows(table.rows, shown, table.schema.slots)
    matches = [r for r in rows if r.archived_at is None and (where is None or where(r))]
    _order(table, matches, sorts)
    return matches


def _int(raw: Any, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | str) or not str(raw).isdigit():
        raise _problem(f"'{name}' must be a non-negative integer, got {raw!r}.")
    return int(raw)


def search(portal: HubSpotPortal, object_type: str, body: Any) -> dict[str, Any]:
    """One search page: ``{"total", "results"[, "paging"]}`` (the caller holds the lock)."""
    if not isinstance(body, dict):
        raise _problem("The request body must be a JSON object.")
    table = portal.table(portal.object_type(object_type))
    limit = _int(body.get("limit"), "limit", DEFAULT_LIMIT)
    after = _int(body.get("after"), "after", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise _problem(f"'limit' must be between 1 and {MAX_LIMIT}, got {limit}.")
    if after + limit > RESULT_CAP:
        raise bad_request(
            "There was a problem with the request.",
            errors=[
                {
                    "message": f"Search results are capped at {RESULT_CAP}: 'after' ({after}) "
                    f"plus 'limit' ({limit}) may not go past the {RESULT_CAP}th result. "
                    "Narrow the filters to reach further records.",
                    "context": {"after": [str(after)], "limit": [str(limit)]},
                }
            ],
        )
    groups, sorts_raw, query = body.get("filterGroups"), body.get("sorts"), body.get("query")
    shown = table.lag.view() if table.lag is not None else None
    if shown is not None:
        matches = _lagged_matches(table, shown, groups, sorts_raw, query)
    else:
        key = (
            table.schema.name,
            table.version,
            orjson.dumps([groups, sorts_raw, query], option=orjson.OPT_SORT_KEYS),
        )
        cached = portal.searches.get(key)
        if cached is None:
            where = _where(table, groups, query)
            sorts = _sorts(table, sorts_raw)
            cached = _matches(table, where, _candidates(table, groups, query, sorts), sorts)
            portal.searches.put(key, cached)
        matches = cached
    names = body.get("properties") or list(table.schema.defaults)
    if not isinstance(names, list):
        raise _problem("'properties' must be an array of property names.")
    projection = Projection(table, [str(n) for n in names])
    answer: dict[str, Any] = {
        "total": len(matches),
        "results": [projection.render(row) for row in matches[after : after + limit]],
    }
    if after + limit < len(matches):
        answer["paging"] = {"next": {"after": str(after + limit)}}
    return answer
