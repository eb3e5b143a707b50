"""Engines, sessions and transactions for the partner store (SQLite or PostgreSQL).

SQLite is the embedded default, so it gets the care a server would give for free:
foreign keys enforced, a WAL journal for file databases, a busy timeout instead of an
instant "database is locked", and real transactions: pysqlite's own implicit BEGIN is
switched off and every transaction starts with ``BEGIN IMMEDIATE``, so DDL is
transactional (a failed migration leaves nothing behind) and two writers queue on the busy
timeout instead of one failing when its read turns into a write. Work that only reads can
run beside a writer (WAL) on ``engine.execution_options(sqlite_begin="DEFERRED")``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.dialects.sqlite.base import SQLiteCompiler
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from sync.store.errors import StoreUnavailable

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "CONNECT_TIMEOUT_SECONDS",
    "make_engine",
    "redact",
    "session_factory",
    "transaction",
]

#: How long a SQLite writer waits for another writer before giving up (seconds).
BUSY_TIMEOUT_SECONDS = 30
#: The page cache of each SQLite connection (KiB). SQLite's default is 2 MiB, a small part
#: of a store of a million deals and registrations: every insert then reads the pages of
#: its table's ten indexes back from the operating system. The cache grows only as used.
SQLITE_CACHE_KIB = 64 * 1024
#: How long connecting to PostgreSQL may take before the store counts as unreachable.
CONNECT_TIMEOUT_SECONDS = 10

# Up to the last "@": a password with an unencoded "@" or "/" is still masked whole
# (an "@" later in the URL only makes the mask wider, which is the safe side).
_SQLITE_BEGIN_MODES = ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")
_USERINFO_PASSWORD = re.compile(r"(://[^/?#@:]*:).*@")
_QUERY_PASSWORD = re.compile(r"(?i)([?&]password=)[^&#]*")


def redact(url: str | URL) -> str:
    """``url`` with any password masked (``postgresql://user:***@host/db``)."""
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
    text = _USERINFO_PASSWORD.sub(r"\1***@", text)
    return _QUERY_PASSWORD.sub(r"\1***", text)


def json_text(value: Any) -> str:
    """JSON text for a JSON column (the documents are plain data: see ``JSONDocument``).

    orjson writes a page's worth of documents several times faster than ``json``; an
    integer beyond 64 bits, which it refuses, goes through ``json``.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str) -> Engine:
    """An engine for ``url``, tuned for its dialect; :class:`StoreUnavailable` if unusable.

    Connecting is lazy; a database that cannot be reached raises
    :class:`StoreUnavailable` (naming the URL, password masked) on first use, wherever
    that happens.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreUnavailable(f"not a database URL: {redact(url)!r}") from None
    options: dict[str, Any] = {"json_serializer": json_text}
    if parsed.get_backend_name() == "sqlite":
        if _sqlite_in_memory(parsed):
            # One shared connection, or every session would see its own empty database.
            options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif parsed.get_backend_name() == "postgresql":
        options.update(
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                "application_name": "partnersync",
                # No automatic server-side prepared statements: a generic plan made while
                # a table was small (a first sync) keeps scanning it once it is large.
                "prepare_threshold": None,
            },
        )
    try:
        engine = create_engine(parsed, **options)
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreUnavailable(f"cannot use the store at {redact(url)}: {exc}") from exc
    _translate_connect_errors(engine, redact(url))
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine, file_database=not _sqlite_in_memory(parsed))
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``engine``; objects stay readable after commit (no expiry)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in a transaction: committed if the block succeeds, rolled back if not."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for a hot path that only reads, such as a dry-run check.

    On PostgreSQL its connection is in autocommit (no ``BEGIN`` and ``ROLLBACK`` round
    trips; each statement sees its own snapshot, so use it where one statement's answer is
    what counts) and its statements are prepared on the server: planning a check's
    statement costs several times executing it. The plan is made again whenever the
    tables' statistics change (PostgreSQL's rule for prepared statements), so a plan made
    on a small table does not outlive its growth. Elsewhere a plain session (SQLite's
    transactions and plans cost no round trip).
    """
    bind = factory.kw.get("bind")
    if not (isinstance(bind, Engine) and bind.dialect.name == "postgresql"):
        with factory() as session:
            yield session
        return
    with bind.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        driver = connection.connection.driver_connection
        driver.prepare_threshold = 0  # type: ignore[union-attr]
        try:
            with factory(bind=connection) as session:
                yield session
        finally:
            driver.prepare_threshold = None  # type: ignore[union-attr]


@contextmanager
def prepared(session: Session) -> Iterator[Session]:
    """PostgreSQL: the block's statements prepared on the server at their first run, for
    a hot path of small indexed statements (a submission): each is planned once per
    connection, not each time, and planned again when its tables' statistics change.
    The connection goes back to the pool unprepared, as it came. A no-op elsewhere."""
    driver = session.connection().connection.driver_connection
    if session.get_bind().dialect.name != "postgresql":
        yield session
        return
    saved = driver.prepare_threshold  # type: ignore[union-attr]
    driver.prepare_threshold = 0  # type: ignore[union-attr]
    try:
        yield session
    finally:
        driver.prepare_threshold = saved  # type: ignore[union-attr]


def _sqlite_in_memory(url: URL) -> bool:
    database = url.database or ""
    return database in ("", ":memory:") or url.query.get("mode") == "memory"


def _translate_connect_errors(engine: Engine, shown_url: str) -> None:
    """Failing to connect at all becomes :class:`StoreUnavailable` with a one-line reason."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if context.connection is not None:
            return  # an error inside a working connection: not ours to rename
        reason = str(context.original_exception).strip().splitlines()
        raise StoreUnavailable(
            f"cannot connect to the store at {shown_url}: {reason[0] if reason else 'unknown'}"
        ) from context.original_exception


class _SQLiteCompiler(SQLiteCompiler):
    """SQLite's statement compiler, rendering a table hint where a query names one
    (``select(...).with_hint(table, "INDEXED BY ix_name", "sqlite")``), which SQLAlchemy's
    own leaves out. A look-up whose plan must not depend on the statistics SQLite has (none
    for a table that was empty at the last ANALYZE) names its index this way; a hint the
    index cannot serve is an error, never a silent scan."""

    def get_from_hint_text(self, table: Any, text: str | None) -> str | None:
        return text


def _tune_sqlite(engine: Engine, *, file_database: bool) -> None:
    engine.dialect.statement_compiler = _SQLiteCompiler

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Hand transaction control to SQLAlchemy (see the "begin" hook below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_SECONDS * 1000}")
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            if file_database:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        if options.get("isolation_level") == "AUTOCOMMIT":
            return
        mode = str(options.get("sqlite_begin", "IMMEDIATE")).upper()
        if mode not in _SQLITE_BEGIN_MODES:
            raise ValueError(f"sqlite_begin must be one of {', '.join(_SQLITE_BEGIN_MODES)}")
        connection.exec_driver_sql(f"BEGIN {mode}")
