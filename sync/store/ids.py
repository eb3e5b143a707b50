"""Ids for rows inserted in bulk, known before the insert.

An ``INSERT ... RETURNING id`` of thousands of rows costs more in the driver than the
database spends on it (SQLAlchemy splices every batch's returned rows into one result), so
a caller that must name new rows (audit rows, name words, references between them) takes
their ids first and inserts them with the rows. PostgreSQL hands out the table's sequence
values; SQLite, whose writers hold the database's write lock for the whole transaction
(``BEGIN IMMEDIATE``), continues after the largest id.
"""

from __future__ import annotations

from sqlalchemy import Table, func, select, text
from sqlalchemy.orm import Session

__all__ = ["new_ids"]


def new_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` fresh ids of ``table``'s ``id`` column, for rows inserted in this
    transaction."""
    if count <= 0:
        return []
    if session.get_bind().dialect.name == "postgresql":
        rows = session.execute(
            text(
                "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                "FROM generate_series(1, :count)"
            ),
            {"table": table.name, "count": count},
        )
        return [int(row[0]) for row in rows]
    last = session.scalar(select(func.coalesce(func.max(table.c.id), 0)))
    return list(range(int(last or 0) + 1, int(last or 0) + 1 + count))
