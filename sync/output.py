"""Printing results: ``--format table|csv|json`` for every listing and report."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["FORMATS", "plain", "render"]

FORMATS = ("table", "csv", "json")


def plain(value: Any) -> Any:
    """A value as JSON can carry it: money and instants as text, states as names."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def render(rows: Sequence[Mapping[str, Any]], fmt: str, *, title: str | None = None) -> str:
    """``rows`` as a table, CSV or JSON (one object when ``rows`` has a single row and the
    caller prints a result rather than a listing: pass ``title=None`` and one row)."""
    cells = [{k: plain(v) for k, v in row.items()} for row in rows]
    if fmt == "json":
        document: Any = cells[0] if len(cells) == 1 and title is None else cells
        return json.dumps(document, indent=2, ensure_ascii=False)
    columns = list(dict.fromkeys(k for row in cells for k in row))
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in cells:
            writer.writerow({k: _cell(v) for k, v in row.items()})
        return buffer.getvalue().rstrip("\n")
    if fmt != "table":
        raise ValueError(f"--format must be one of: {', '.join(FORMATS)} (got {fmt!r})")
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column)
    for row in cells:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console = Console(width=200, record=True, file=io.StringIO(), force_terminal=False)
    console.print(table)
    return console.export_text().rstrip("\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
