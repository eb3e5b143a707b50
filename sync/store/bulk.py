"""Bulk upsert that converts each value once and hands the driver DB-ready data.

``session.execute(insert(...), rows)`` runs every value of every row through SQLAlchemy's
per-parameter machinery; for pages of thousands of rows that costs more than the database
does. :func:`upsert` applies the same column types' bind processors (so the rules of
:mod:`sync.store.types` still hold: exact money, UTC-aware instants, float-free JSON),
column by column and once per distinct value object, then makes one driver call:

- SQLite: ``INSERT ... VALUES (...), (...), ... ON CONFLICT DO UPDATE``, 200 rows to a
  statement (see :func:`_sqlite_insert` for why not one per row). With foreign keys
  enforced, SQLite runs ``DO UPDATE`` about twice as slowly as ``DO NOTHING`` even where
  no row conflicts, so rows the caller knows to be new (``existing``) go through
  ``ON CONFLICT DO NOTHING``; if any of them was there after all, they all go through the
  full upsert again (idempotent);
- PostgreSQL: one ``INSERT ... SELECT ... FROM json_to_recordset(<every row as one JSON
  document>) ON CONFLICT DO UPDATE`` statement, parsed and planned once instead of once
  per row (psycopg's pipelined executemany still sends one statement per row), its one
  parameter written by orjson.

Text longer than its column, or holding a NUL character, is refused on every dialect
(SQLite would keep it, where PostgreSQL refuses it). A refused value raises, or, for a
caller that keeps bad rows aside (the pull's quarantine), leaves out its row alone and is
returned with the reason.

A statement cannot update the same row twice on PostgreSQL, so rows sharing a key are
collapsed to the last of them first: the result a row-by-row executemany would leave.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Date, DateTime, Dialect, Enum, Table
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from sync.store.types import CurrencyCode

__all__ = ["Refused", "insert", "insert_absent", "upsert", "upsert_returning"]

_Processor = Callable[[Any], Any] | None
_UNSET = object()
#: Rows per SQLite INSERT statement (fewer if the variable limit demands).
_SQLITE_ROWS_PER_STATEMENT = 200
_BARE = re.compile(r"\s*\([^)]*\)")  # "(64)" in VARCHAR(64), "(18, 4)" in NUMERIC(18, 4)


@dataclass(frozen=True)
class _Plan:
    """The statement text and per-column bind processors for one upsert shape."""

    sql: str  # PostgreSQL: the statement; SQLite: its one-row form (named in errors)
    columns: tuple[str, ...]
    processors: tuple[_Processor, ...]
    lengths: tuple[int | None, ...]  # the longest text each column holds, if limited
    by_value: tuple[bool, ...]  # equal values convert alike: convert each distinct one once
    document: bool  # one execute with every row in one JSON document (PostgreSQL)
    # SQLite: "INSERT INTO t (...) VALUES", one row's "(?, ...)", the two ON CONFLICT tails
    into: str = ""
    marks: str = ""
    on_conflict_update: str = ""
    on_conflict_nothing: str = ""


@dataclass(frozen=True)
class _Written:
    refused: list[Refused]
    count: int
    returned: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Refused:
    """A row left out because a column refused one of its values; one line per value."""

    row: Mapping[str, Any]
    problems: tuple[str, ...]  # "<column>: <why>"


class _Refusals:
    """Collects refused values by row index; with ``raising``, the first one raises."""

    def __init__(self, raising: bool, sql: str) -> None:
        self.raising = raising
        self.sql = sql
        self.by_row: dict[int, list[str]] = {}

    def add(self, index: int, column: str, exc: Exception) -> None:
        if self.raising:
            # What session.execute() raises for a value its column refuses.
            raise StatementError(f"{column}: {exc}", self.sql, None, exc) from exc
        self.by_row.setdefault(index, []).append(f"{column}: {exc}")


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update_columns: Sequence[str],
    *,
    existing: Container[Any] | None = None,
    refuse_rows: bool = False,
) -> list[Refused]:
    """INSERT ``rows`` into ``table``; where ``keys`` already exist, UPDATE ``update_columns``.

    Every row has the same keys (the first row names the columns). A value its column
    refuses (the column type's own checks, or text longer than the column, on every
    dialect) raises :class:`StatementError` and stores nothing, or, with ``refuse_rows``,
    leaves its row out: the refused rows are returned, the others stored.

    ``existing``, when given, holds the keys (a value, or a tuple for several key columns)
    already in the table as far as the caller knows; it only speeds SQLite up and never
    changes the result.
    """
    return _write(session, table, rows, keys, update_columns, existing, refuse_rows, "").refused


def upsert_returning(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update_columns: Sequence[str],
    returning: Sequence[str],
    *,
    existing: Container[Any] | None = None,
    refuse_rows: bool = False,
) -> tuple[list[Refused], list[tuple[Any, ...]]]:
    """:func:`upsert`, with the ``returning`` columns of every row written (inserted or
    updated), as the database has them (ids it gave): no look-up after the write."""
    written = _write(
        session, table, rows, keys, update_columns, existing, refuse_rows, "", tuple(returning)
    )
    return written.refused, written.returned


def insert_absent(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    where: str = "",
) -> int:
    """INSERT the ``rows`` whose ``keys`` are not in ``table`` yet (the unique index on
    them; ``where``: the condition of a partial one, as SQL text); returns how many went
    in. A caller that finds fewer than it gave knows some were there, without a look-up
    before the insert when none were."""
    return _write(session, table, rows, keys, (), None, False, where).count


def insert_absent_returning(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    returning: Sequence[str],
) -> list[tuple[Any, ...]]:
    """:func:`insert_absent` (a plain INSERT when ``keys`` is empty), with the
    ``returning`` columns of the rows that went in, in no particular order: return a key
    to tell them apart."""
    return _write(session, table, rows, keys, (), None, False, "", tuple(returning)).returned


def _write(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update_columns: Sequence[str],
    existing: Container[Any] | None,
    refuse_rows: bool,
    conflict_where: str,
    returning: tuple[str, ...] = (),
) -> _Written:
    """:func:`upsert`'s work: the rows refused, the number of rows written, and the
    ``returning`` columns of those rows."""
    if not rows:
        return _Written([], 0, [])
    connection = session.connection()
    plan = _plan(
        connection.dialect, table, tuple(rows[0]), tuple(keys), tuple(update_columns),
        conflict_where,
    )  # fmt: skip
    unique = _last_per_key(rows, keys) if keys else rows
    refusals = _Refusals(not refuse_rows, plan.sql)
    values = [
        _converted(column, process, name, length, by_value, refusals)
        for column, process, name, length, by_value in zip(
            _transposed(unique, plan.columns), plan.processors, plan.columns, plan.lengths,
            plan.by_value, strict=True,
        )
    ]  # fmt: skip
    refused = [Refused(unique[i], tuple(problems)) for i, problems in refusals.by_row.items()]
    if refused:
        keep = [i for i in range(len(unique)) if i not in refusals.by_row]
        unique = [unique[i] for i in keep]
        values = [[column[i] for i in keep] for column in values]
        if not unique:
            return _Written(refused, 0, [])
    quote = connection.dialect.identifier_preparer.quote
    tail = f" RETURNING {', '.join(quote(c) for c in returning)}" if returning else ""
    if plan.document:
        rows_as_json = [
            dict(zip(plan.columns, row, strict=True)) for row in zip(*values, strict=True)
        ]
        try:
            document = orjson.dumps(rows_as_json, default=_json_value).decode()
        except orjson.JSONEncodeError:  # an integer beyond 64 bits
            document = json.dumps(rows_as_json, default=_json_value)
        result = connection.exec_driver_sql(plan.sql + tail, (document,))
        returned = [tuple(row) for row in result] if returning else []
        return _Written(refused, result.rowcount, returned)
    tuples = list(zip(*values, strict=True))
    if existing is None:
        return _Written(refused, *_sqlite_insert(connection, plan, plan.on_conflict_update + tail,
                                                 tuples, returning=bool(returning)))  # fmt: skip
    key_of = itemgetter(*keys)
    old = [t for t, row in zip(tuples, unique, strict=True) if key_of(row) in existing]
    new = [t for t, row in zip(tuples, unique, strict=True) if key_of(row) not in existing]
    written, returned = 0, []
    if new:
        written, returned = _sqlite_insert(
            connection, plan, plan.on_conflict_nothing + tail, new, returning=bool(returning)
        )
        if written != len(new):
            old += new  # some were there after all: the full upsert settles every one of them
            written, returned = 0, []
    if old:
        count, more = _sqlite_insert(
            connection, plan, plan.on_conflict_update + tail, old, returning=bool(returning)
        )
        written, returned = written + count, returned + more
    return _Written(refused, written, returned)


def insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT ``rows`` (all with the same keys) into ``table``, in the way of :func:`upsert`:
    values converted once by their column types, one driver call (PostgreSQL) or a few
    (SQLite); a value its column refuses raises :class:`StatementError`, storing nothing."""
    upsert(session, table, rows, (), ())


def _sqlite_insert(
    connection: Connection,
    plan: _Plan,
    on_conflict: str,
    tuples: list[tuple[Any, ...]],
    *,
    returning: bool = False,
) -> tuple[int, list[tuple[Any, ...]]]:
    """INSERT ``tuples`` a few hundred rows to a statement; returns the number of rows
    inserted or updated and, when ``on_conflict`` ends in RETURNING, what those returned.

    Not one statement per row: Python's sqlite3 releases the GIL around every statement
    step, and each time it wants it back while another thread (the pull's read-ahead)
    runs Python, it waits for that thread's switch interval (5 ms). Row by row, a page
    then takes seconds; in statements of a few hundred rows, milliseconds.
    """
    dbapi = connection.connection.dbapi_connection
    limit = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)  # type: ignore[union-attr]
    per = max(1, min(_SQLITE_ROWS_PER_STATEMENT, limit // len(plan.columns)))
    whole = len(tuples) - len(tuples) % per
    changed = 0
    returned: list[tuple[Any, ...]] = []
    if whole:
        sql = f"{plan.into} {', '.join([plan.marks] * per)} {on_conflict}"
        batches = [tuple(chain.from_iterable(tuples[i : i + per])) for i in range(0, whole, per)]
        if returning:  # rows come back from one statement at a time
            for batch in batches:
                returned.extend(tuple(r) for r in connection.exec_driver_sql(sql, batch))
        else:
            changed += connection.exec_driver_sql(sql, batches).rowcount
    if rest := tuples[whole:]:
        sql = f"{plan.into} {', '.join([plan.marks] * len(rest))} {on_conflict}"
        result = connection.exec_driver_sql(sql, tuple(chain.from_iterable(rest)))
        if returning:
            returned.extend(tuple(r) for r in result)
        else:
            changed += result.rowcount
    return (len(returned) if returning else changed), returned


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


def _converted(
    values: list[Any],
    process: _Processor,
    name: str,
    length: int | None,
    by_value: bool,
    refusals: _Refusals,
) -> list[Any]:
    """``values`` through ``process``: once per distinct value where equal values convert
    alike (``by_value``: codes, enum values, dates), else once per run of the same object
    (``now``, None). Text longer than ``length`` and values ``process`` raises on are
    refused."""
    if length is not None:
        try:
            longest = max(map(len, filter(None, values)), default=0)
            nul = "\x00" in "".join(filter(None, values))
        except TypeError:  # not text: the column type decides below
            longest, nul = 0, False
        if longest > length or nul:
            for index, value in enumerate(values):
                if not isinstance(value, str):
                    continue
                if len(value) > length:
                    problem = ValueError(f"{len(value)} characters, at most {length} are kept")
                    refusals.add(index, name, problem)
                elif "\x00" in value:
                    # PostgreSQL text cannot hold it; on SQLite it would cut the text short
                    # for most readers. Refused on both, like a value too long.
                    refusals.add(index, name, ValueError("contains a NUL character"))
    if process is None:
        return values
    out: list[Any] = []
    if by_value:
        seen: dict[Any, Any] = {}
        for index, value in enumerate(values):
            try:
                converted = seen[value]
            except (KeyError, TypeError):  # new, or unhashable (which process refuses)
                try:
                    converted = process(value)
                except (TypeError, ValueError, LookupError) as exc:
                    refusals.add(index, name, exc)
                    converted = None
                else:
                    seen[value] = converted
            out.append(converted)
        return out
    last_in: Any = _UNSET
    last_out: Any = None
    for index, value in enumerate(values):
        if value is not last_in:
            try:
                last_in, last_out = value, process(value)
            except (TypeError, ValueError, LookupError) as exc:
                refusals.add(index, name, exc)
                last_in, last_out = _UNSET, None
        out.append(last_out)
    return out


def _json_value(value: Any) -> Any:
    """What orjson does not write itself: exact decimals as their text, JSON documents."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Jsonb):
        return value.obj
    raise TypeError(f"{type(value).__name__} is not JSON data")


@lru_cache(maxsize=64)
def _plan(
    dialect: Dialect,
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update_columns: tuple[str, ...],
    conflict_where: str = "",
) -> _Plan:
    quote = dialect.identifier_preparer.quote
    processors = tuple(
        table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
    )
    lengths = tuple(getattr(table.c[name].type, "length", None) for name in columns)
    # Equal values of these types are the same stored value (a StrEnum member and its
    # text alike); a datetime (also a date) never equals a date, so Date is safe too.
    by_value = tuple(
        isinstance(table.c[name].type, Enum | Date | CurrencyCode)
        and not isinstance(table.c[name].type, DateTime)
        for name in columns
    )
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)})"
    target = f"({', '.join(quote(k) for k in keys)})"
    if conflict_where:  # a partial unique index: its condition names it
        target += f" WHERE {conflict_where}"
    on_conflict = f"ON CONFLICT {target} DO " if keys else ""
    conflict = on_conflict and on_conflict + (
        "UPDATE SET " + ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update_columns)
        if update_columns
        else "NOTHING"
    )
    if dialect.name == "sqlite":
        marks = f"({', '.join('?' for _ in columns)})"
        return _Plan(
            f"{into} VALUES {marks} {conflict}",
            columns,
            processors,
            lengths,
            by_value,
            False,
            into=f"{into} VALUES",
            marks=marks,
            on_conflict_update=conflict,
            on_conflict_nothing=on_conflict and f"{on_conflict}NOTHING",
        )
    if dialect.name == "postgresql":
        # Every row in one JSON document, which the server unpacks (json_to_recordset):
        # orjson writes it at C speed, where psycopg adapts arrays element by element in
        # Python. Values are what the column types' bind processors made of them, as JSON
        # text: Decimals exact, instants with their offset. The record types are the bare
        # types (VARCHAR, not VARCHAR(64)): a length there would truncate silently, where
        # assigning to the column refuses a value too long.
        record = ", ".join(
            f"{quote(name)} {_BARE.sub('', table.c[name].type.compile(dialect=dialect))}"
            for name in columns
        )
        chosen = ", ".join(quote(c) for c in columns)
        # Identifiers come from the table's metadata, quoted by the dialect.
        sql = (
            f"{into} SELECT {chosen} FROM json_to_recordset(%s::json) AS r({record}) "  # noqa: S608
            f"{conflict}"
        )
        return _Plan(sql, columns, processors, lengths, by_value, True)
    raise NotImplementedError(f"no bulk upsert for the {dialect.name} dialect")
