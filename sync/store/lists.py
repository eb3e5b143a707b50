"""``column IN (a long list)``, written the way each dialect takes a long list best.

A page's look-ups name thousands of values (CRM ids, customer keys, registration ids).
As an expanded ``IN (...)`` on PostgreSQL every value is a parameter of its own: psycopg
adapts each and the server parses each, about 10 µs a value (a look-up that runs in 1 ms
took 23 ms from Python with 2,000 ids). There the list goes as one array parameter
(``= ANY(%s::VARCHAR[])``), which psycopg writes at C speed. SQLite binds parameters in C
and plans ``IN`` lists well, so it keeps the expanded list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute

__all__ = ["one_of"]


def one_of(
    column: ColumnElement[Any] | QueryableAttribute[Any], values: Iterable[Any], dialect: str
) -> ColumnElement[bool]:
    """``column IN values`` for ``dialect`` (the engine's dialect name)."""
    listed = list(values)
    if dialect == "postgresql":
        # Text without a length: a cast to VARCHAR(n)[] would cut longer values short
        # (an expression such as partner || '|' || domain takes its first part's length).
        item = String() if isinstance(column.type, String) else column.type
        return column == any_(bindparam(None, listed, type_=ARRAY(item)))
    return column.in_(listed)
