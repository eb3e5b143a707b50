"""SOQL ``query`` / ``queryAll`` with ``nextRecordsUrl`` paging, and record rendering.

The SOQL runs once per query; the matched records are kept in a cursor and served page by
page (2,000 by default, ``Sforce-Query-Options: batchSize=N`` between 200 and 2,000).
Cursors expire oldest-first past :data:`MAX_CURSORS`, like Salesforce's open-cursor limit.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connectors.sandbox.salesforce.org import RecordError, SalesforceOrg
from connectors.sandbox.soql import CompiledQuery, SoqlError, compile_query, parse

__all__ = ["Cursor", "QueryEngine", "render_value"]

MAX_CURSORS = 100
DEFAULT_BATCH = 2000
FieldPath = tuple[str, ...]


def render_value(value: Any) -> Any:
    """A stored value as Salesforce puts it on the wire."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass
class Cursor:
    """The rows of one query still to be served."""

    query: CompiledQuery
    rows: list[dict[str, Any]]
    batch: int
    render: Callable[[dict[str, Any]], dict[str, Any]]


class QueryEngine:
    """Runs SOQL against the org and pages the results."""

    def __init__(self, org: SalesforceOrg) -> None:
        self.org = org
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._ids = itertools.count(1)

    def _getter(self, sobject: str) -> Callable[[dict[str, Any], FieldPath], Any]:
        schema = self.org.schema

        def get(record: dict[str, Any], path: FieldPath) -> Any:
            if len(path) == 1:
                return record.get(path[0])
            ref = schema.relationship(sobject, path[0])
            if ref is None or ref.reference_to is None:
                return None
            target_id = record.get(ref.name)
            if target_id is None:
                return None
            target = self.org.table(ref.reference_to).get(target_id)
            return None if target is None else target.get(path[1])

        return get

    def _renderer(
        self, query: CompiledQuery, version: str
    ) -> Callable[[dict[str, Any]], dict[str, Any]]:
        sobject = query.sobject
        prefix = f"/services/data/v{version}/sobjects/"
        schema = self.org.schema
        plain = [p[0] for p in query.select if len(p) == 1]
        related: dict[str, list[str]] = {}
        for path in query.select:
            if len(path) == 2:
                related.setdefault(path[0], []).append(path[1])
        refs = {rel: schema.relationship(sobject, rel) for rel in related}

        def render(record: dict[str, Any]) -> dict[str, Any]:
            out: dict[str, Any] = {
                "attributes": {"type": sobject, "url": f"{prefix}{sobject}/{record['Id']}"}
            }
            for name in plain:
                out[name] = render_value(record.get(name))
            for rel, names in related.items():
                ref = refs[rel]
                target_id = record.get(ref.name) if ref else None
                target_type = ref.reference_to if ref else None
                target = (
                    self.org.table(target_type).get(target_id)
                    if target_type and target_id
                    else None
                )
                if target is None:
                    out[rel] = None
                    continue
                nested: dict[str, Any] = {
                    "attributes": {
                        "type": target_type,
                        "url": f"{prefix}{target_type}/{target['Id']}",
                    }
                }
                for name in names:
                    nested[name] = render_value(target.get(name))
                out[rel] = nested
            return out

        return render

    def start(
        self, soql: str, *, include_deleted: bool, batch: int, version: str
    ) -> dict[str, Any]:
        """Run ``soql`` and answer its first page (SoqlError on a bad query)."""
        query = compile_query(parse(soql), self.org.schema)
        with self.org.sandbox.lock:
            rows = self.org.records(query.sobject, include_deleted=include_deleted)
            matched = query.run(rows, self._getter(query.sobject))
        if query.count_only:
            return {"totalSize": len(matched), "done": True, "records": []}
        cursor = Cursor(query, matched, batch, self._renderer(query, version))
        locator = f"01gSANDBOX{next(self._ids):08d}"
        self._cursors[locator] = cursor
        while len(self._cursors) > MAX_CURSORS:
            self._cursors.popitem(last=False)
        return self.page(locator, 0, version, include_deleted=include_deleted)

    def page(
        self, locator: str, offset: int, version: str, *, include_deleted: bool
    ) -> dict[str, Any]:
        """The page of cursor ``locator`` starting at ``offset``."""
        cursor = self._cursors.get(locator)
        if cursor is None or offset < 0 or offset > len(cursor.rows):
            raise RecordError("INVALID_QUERY_LOCATOR", "invalid query locator")
        self._cursors.move_to_end(locator)
        end = min(offset + cursor.batch, len(cursor.rows))
        with self.org.sandbox.lock:
            records = [cursor.render(r) for r in cursor.rows[offset:end]]
        body: dict[str, Any] = {
            "totalSize": len(cursor.rows),
            "done": end >= len(cursor.rows),
            "records": records,
        }
        if end < len(cursor.rows):
            kind = "queryAll" if include_deleted else "query"
            body["nextRecordsUrl"] = f"/services/data/v{version}/{kind}/{locator}-{end}"
        else:
            self._cursors.pop(locator, None)
        return body


def batch_size(header: str | None) -> int:
    """``Sforce-Query-Options: batchSize=N`` -> N clamped to 200..2,000."""
    if header:
        for part in header.split(","):
            key, _, value = part.strip().partition("=")
            if key.strip().lower() == "batchsize" and value.strip().isdigit():
                return max(200, min(DEFAULT_BATCH, int(value)))
    return DEFAULT_BATCH


__all__ += ["SoqlError", "batch_size"]
