"""Alembic environment of the partner store.

Run by ``sync.store.schema`` with a connection already in a transaction
(``config.attributes["connection"]``), or by the ``alembic`` command line for developers
(``-x url=...`` or ``PARTNERSYNC_STORE__URL``; see ``alembic.ini`` here). The target is
``Base.metadata``; on SQLite, autogenerate renders batch operations, which rebuild a
table to alter it.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection

from sync.store.db import make_engine
from sync.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("PARTNERSYNC_STORE__URL")
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=... or set PARTNERSYNC_STORE__URL")
    return url


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # A batch rebuild drops and renames a table that others reference; check foreign
        # keys at commit, when the rebuilt table is in place, not statement by statement.
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade --sql``)."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Migrate over the connection handed in, or over a new engine from the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_url())
    try:
        with engine.begin() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
