"""SOQL ``query`` / ``queryAll``: run once, keep the result in a cursor, serve it in pages.

The SOQL engine (``sandbox.soql``) filters and sorts the rows once; the matched
rows stay in a :class:`Cursor` and each page renders only its own slice (2,000 rows by
default, ``Sforce-Query-Options: batchSize=N`` for 200..2,000). ``nextRecordsUrl`` is
``/services/data/vXX.X/query/<locator>-<offset>``. Cursors expire least recently used
first, past :data:`MAX_CURSORS` open cursors or :data:`MAX_CURSOR_ROWS` rows held in all,
after which their locator answers ``INVALID_QUERY_LOCATOR``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.salesforce.errors import RecordError
from sandbox.salesforce.ids import IdFactory
from sandbox.salesforce.render import RecordRenderer
from sandbox.salesforce.schema import FieldPath, Row
from sandbox.soql import compile_query, parse

if TYPE_CHECKING:
    from sandbox.salesforce.org import SalesforceOrg
    from sandbox.salesforce.table import Table

__all__ = [
    "DEFAULT_BATCH",
    "MAX_CURSORS",
    "MAX_CURSOR_ROWS",
    "Cursor",
    "QueryService",
    "batch_size",
]

DEFAULT_BATCH = 2000
MIN_BATCH = 200
MAX_CURSORS = 100
MAX_CURSOR_ROWS = 2_000_000


def batch_size(header: str | None) -> int:
    """Rows per page from ``Sforce-Query-Options: batchSize=N`` (clamped to 200..2,000)."""
    for part in (header or "").split(","):
        key, _, value = part.partition("=")
        if key.strip().casefold() == "batchsize" and value.strip().isdigit():
            return max(MIN_BATCH, min(DEFAULT_BATCH, int(value)))
    return DEFAULT_BATCH


@dataclass
class Cursor:
    """The matched rows of one query, its page size and how to render a row."""

    rows: list[Row]
    batch: int
    render: RecordRenderer
    resource: str  # "query" or "queryAll", for nextRecordsUrl


def getter(org: SalesforceOrg, table: Table) -> Callable[[Row, FieldPath], Any]:
    """The SOQL engine's ``get``: a row's value at a canonical path, relationships included
    (``None`` through an empty or deleted reference)."""
    direct: dict[FieldPath, int] = {(name,): slot for name, slot in table.slots.items()}
    related: dict[FieldPath, Callable[[Row], Any]] = {}

    def through(path: FieldPath) -> Callable[[Row], Any]:
        reference = table.obj.relationship(path[0])
        if reference is None or reference.reference_to is None:
            raise KeyError(path)
        target = org.table(reference.reference_to)
        rows, deleted = target.rows, target.IS_DELETED
        via, slot = table.slots[reference.name], target.slots[path[1]]

        def value(row: Row) -> Any:
            parent = rows.get(row[via])
            return None if parent is None or parent[deleted] else parent[slot]

        return value

    def get(row: Row, path: FieldPath) -> Any:
        slot = direct.get(path)
        if slot is not None:
            return row[slot]
        fetch = related.get(path)
        if fetch is None:
            fetch = related[path] = through(path)
        return fetch(row)

    return get


class QueryService:
    """Runs SOQL against the org and pages results through cursors."""

    def __init__(self, org: SalesforceOrg) -> None:
        self.org = org
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._held = 0
        self._locators = IdFactory("01g")

    def start(
        self, soql: str, *, include_deleted: bool, batch: int, version: str
    ) -> dict[str, Any]:
        """Run ``soql`` and answer its first page; ``SoqlError`` for a bad query."""
        compiled = compile_query(parse(soql), self.org.schema)
        org = self.org
        with org.sandbox.lock:
            table = org.table(compiled.sobject)
            rows = table.everything() if include_deleted else table.live()
            matched = compiled.run(rows, getter(org, table), now=org.sandbox.now())
        if compiled.count_only:
            return {"totalSize": len(matched), "done": True, "records": []}
        render = RecordRenderer(org, compiled.sobject, compiled.select, version)
        resource = "queryAll" if include_deleted else "query"
        locator = self._locators()
        self._open(locator, Cursor(matched, batch, render, resource))
        return self.page(f"{locator}-0", version)

    def page(self, locator: str, version: str) -> dict[str, Any]:
        """The page of ``<locator>-<offset>``; ``INVALID_QUERY_LOCATOR`` if it expired."""
        name, _, offset_text = locator.rpartition("-")
        cursor = self._cursors.get(name)
        offset = int(offset_text) if offset_text.isdigit() else -1
        if cursor is None or not 0 <= offset <= len(cursor.rows):
            raise RecordError("INVALID_QUERY_LOCATOR", "invalid query locator")
        self._cursors.move_to_end(name)
        total = len(cursor.rows)
        end = min(offset + cursor.batch, total)
        render = cursor.render
        with self.org.sandbox.lock:
            records = [render(row) for row in cursor.rows[offset:end]]
        body: dict[str, Any] = {"totalSize": total, "done": end >= total, "records": records}
        if end < total:
            body["nextRecordsUrl"] = f"/services/data/v{version}/{cursor.resource}/{name}-{end}"
        return body

    def _open(self, locator: str, cursor: Cursor) -> None:
        self._cursors[locator] = cursor
        self._held += len(cursor.rows)
        while len(self._cursors) > MAX_CURSORS or (
            self._held > MAX_CURSOR_ROWS and len(self._cursors) > 1
        ):
            _, dropped = self._cursors.popitem(last=False)
            self._held -= len(dropped.rows)
