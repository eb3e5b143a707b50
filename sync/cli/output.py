"""Printing results: ``--format table|csv|json`` for every listing and report.

Tables fit the terminal: on a terminal narrower than a table, the columns a listing calls
optional are left out (a last line says which, and ``--format json`` shows everything),
and what still does not fit wraps. Off a terminal (a pipe, a file) tables keep every
column. CSV is one table per invocation.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from sync.plain import plain

__all__ = ["FORMATS", "render", "render_sections"]

FORMATS = ("table", "csv", "json")
#: The width tables get when stdout is not a terminal.
PIPE_WIDTH = 200


def _cells(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: plain(v, floats=True) for k, v in row.items()} for row in rows]


def render(
    rows: Sequence[Mapping[str, Any]],
    fmt: str,
    *,
    title: str | None = None,
    optional: Sequence[str] = (),
    width: int | None = None,
) -> str:
    """``rows`` as a table, CSV or JSON (one object when ``rows`` has a single row and the
    caller prints a result rather than a listing: pass ``title=None`` and one row).

    ``optional`` names the columns a narrow terminal may do without, least useful first;
    ``width`` overrides the terminal's.
    """
    cells = _cells(rows)
    if fmt == "json":
        document: Any = cells[0] if len(cells) == 1 and title is None else cells
        return json.dumps(document, indent=2, ensure_ascii=False)
    columns = list(dict.fromkeys(k for row in cells for k in row))
    if fmt == "csv":
        return _csv(cells, columns)
    if fmt != "table":
        raise ValueError(f"--format must be one of: {', '.join(FORMATS)} (got {fmt!r})")
    width = width or _width()
    hidden: list[str] = []
    table = _table(cells, columns, title)
    for column in optional:
        if _measure(table) <= width:
            break
        if column in columns:
            columns.remove(column)
            hidden.append(column)
            table = _table(cells, columns, title)
    text = _print(table, width)
    if hidden:
        note = f"(hidden to fit: {', '.join(hidden)}; --format json shows all)"
        text += "\n" + "\n".join(textwrap.wrap(note, width))
    return text


def render_sections(sections: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]) -> str:
    """Several listings as one CSV table: the union of their columns, in order, and a last
    column ``table`` naming the listing each row comes from."""
    cells = [{**row, "table": title} for title, rows in sections for row in _cells(rows)]
    columns = list(dict.fromkeys(k for row in cells for k in row if k != "table"))
    return _csv(cells, [*columns, "table"])


def _csv(cells: list[dict[str, Any]], columns: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in cells:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue().rstrip("\n")


def _width() -> int:
    if not sys.stdout.isatty():
        return PIPE_WIDTH
    return shutil.get_terminal_size((PIPE_WIDTH, 24)).columns


def _table(cells: list[dict[str, Any]], columns: list[str], title: str | None) -> Table:
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    return table


def _measure(table: Table) -> int:
    console = Console(width=10_000, file=io.StringIO(), force_terminal=False)
    return console.measure(table).maximum


def _print(table: Table, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=False)
    console.print(table)
    return console.export_text().rstrip("\n")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
