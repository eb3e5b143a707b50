"""Bulk upsert that converts each value once and hands the driver DB-ready data.

``session.execute(insert(...), rows)`` runs every value of every row through SQLAlchemy's
per-parameter machinery; for pages of thousands of rows that costs more than the database
does. :func:`upsert` applies the same column types' bind processors (so the rules of
:mod:`sync.store.types` still hold: exact money, UTC-aware instants, float-free JSON),
column by column and once per distinct value object, then makes one driver call:

- SQLite: one ``executemany`` of ``INSERT ... ON CONFLICT DO UPDATE`` (a prepared
  statement stepped per row);
- PostgreSQL: one ``INSERT ... SELECT * FROM unnest(<one array per column>) ON CONFLICT
  DO UPDATE`` statement, parsed and planned once instead of once per row (psycopg's
  pipelined executemany still sends one statement per row).

A statement cannot update the same row twice on PostgreSQL, so rows sharing a key are
collapsed to the last of them first: the result a row-by-row executemany would leave.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

__all__ = ["upsert"]

_Processor = Callable[[Any], Any] | None
_UNSET = object()
_BARE = re.compile(r"\s*\([^)]*\)")  # "(64)" in VARCHAR(64), "(18, 4)" in NUMERIC(18, 4)


@dataclass(frozen=True)
class _Plan:
    """The statement text and per-column bind processors for one upsert shape."""

    sql: str
    columns: tuple[str, ...]
    processors: tuple[_Processor, ...]
    column_wise: bool  # one execute with an array per column (PostgreSQL)


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """INSERT ``rows`` into ``table``; where ``keys`` already exist, UPDATE ``update_columns``.

    Every row has the same keys (the first row names the columns).
    """
    if not rows:
        return
    connection = session.connection()
    plan = _plan(connection.dialect, table, tuple(rows[0]), tuple(keys), tuple(update_columns))
    unique = _last_per_key(rows, keys)
    try:
        values = [
            _converted(column, process)
            for column, process in zip(
                _transposed(unique, plan.columns), plan.processors, strict=True
            )
        ]
    except (TypeError, ValueError, LookupError) as exc:
        # What session.execute() raises for a value its column refuses.
        raise StatementError(str(exc), plan.sql, None, exc) from exc
    if plan.column_wise:
        connection.exec_driver_sql(plan.sql, tuple(values))
    else:
        connection.exec_driver_sql(plan.sql, list(zip(*values, strict=True)))


def _last_per_key(
    rows: Sequence[Mapping[str, Any]], keys: Sequence[str]
) -> Sequence[Mapping[str, Any]]:
    by_key = dict(zip(map(itemgetter(*keys), rows), rows, strict=True))
    return rows if len(by_key) == len(rows) else list(by_key.values())


def _transposed(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[list[Any]]:
    """The values of each named column, in row order (lists: psycopg adapts them as arrays)."""
    if len(names) == 1:
        return [[row[names[0]] for row in rows]]
    return list(map(list, zip(*map(itemgetter(*names), rows), strict=True)))


def _converted(values: list[Any], process: _Processor) -> list[Any]:
    """``values`` through ``process``, called once per run of the same object (``now``, None)."""
    if process is None:
        return values
    out: list[Any] = []
    last_in: Any = _UNSET
    last_out: Any = None
    for value in values:
        if value is not last_in:
            last_in, last_out = value, process(value)
        out.append(last_out)
    return out


@lru_cache(maxsize=64)
def _plan(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update_columns: tuple[str, ...],
) -> _Plan:
    quote = dialect.identifier_preparer.quote
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)})"
    conflict = f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) DO " + (
        "UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update_columns)
        if update_columns
        else "NOTHING"
    )
    if dialect.name == "sqlite":
        marks = ", ".join("?" for _ in columns)
        return _Plan(f"{into} VALUES ({marks}) {conflict}", columns, processors, False)
    if dialect.name == "postgresql":
        # Binary arrays (%b): psycopg dumps them without per-element text escaping. The
        # cast is to the bare type (VARCHAR, not VARCHAR(64)): a length in an explicit
        # cast truncates silently, where assigning to the column refuses a value too long.
        arrays = ", ".join(
            f"%b::{_BARE.sub('', table.c[name].type.compile(dialect=dialect))}[]"
            for name in columns
        )
        # Identifiers come from the table's metadata, quoted by the dialect.
        sql = f"{into} SELECT * FROM unnest({arrays}) {conflict}"  # noqa: S608
        return _Plan(sql, columns, processors, True)
    raise NotImplementedError(f"no bulk upsert for the {dialect.name} dialect")
