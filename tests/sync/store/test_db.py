"""Engines, transactions and the errors a user sees when the store cannot be used."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from sync.store import (
    Partner,
    StoreError,
    StoreUnavailable,
    current_revision,
    ensure_schema,
    make_engine,
    prepared,
    reading,
    redact,
    transaction,
    upgrade,
)
from tests.conftest import POSTGRES_URL
from tests.sync.store import rows

UNUSABLE = [
    pytest.param("not a url", "not a database URL", id="garbage"),
    pytest.param(
        "postgresql+psycopg://ps:hunter2@127.0.0.1:1/partnersync",
        "cannot connect to the store at postgresql+psycopg://ps:***@127.0.0.1:1/partnersync",
        id="postgres-unreachable",
    ),
    pytest.param(
        make_url(POSTGRES_URL)
        .set(password="hunter2", database="ps_no_such_database")
        .render_as_string(hide_password=False),
        'database "ps_no_such_database" does not exist',
        id="postgres-no-database",
        marks=pytest.mark.postgres,
    ),
    pytest.param(
        "mysql+nodriver://ps:hunter2@db/partnersync",
        "cannot use the store at mysql+nodriver://ps:***@db/partnersync",
        id="unknown-driver",
    ),
    pytest.param(
        "sqlite:////nonexistent-dir/hunter2/partnersync.db",
        "cannot connect to the store at sqlite:////nonexistent-dir/",
        id="sqlite-directory-missing",
    ),
]


@pytest.mark.parametrize("operation", [upgrade, current_revision, ensure_schema])
@pytest.mark.parametrize(("url", "message"), UNUSABLE)
def test_unusable_store_is_one_clear_line(
    url: str, message: str, operation: Callable[[str], Any]
) -> None:
    """A bad URL or unreachable database raises StoreError: one line, URL named, no password."""
    with pytest.raises(StoreUnavailable) as caught:
        operation(url)
    text_ = str(caught.value)
    assert isinstance(caught.value, StoreError)
    assert message in text_
    assert "\n" not in text_
    if "sqlite" not in url:
        assert "hunter2" not in text_


def test_sessions_on_an_unreachable_store_raise_store_unavailable() -> None:
    """Connecting fails as StoreUnavailable wherever it happens, not only in schema calls."""
    engine = make_engine("postgresql+psycopg://ps:hunter2@127.0.0.1:1/partnersync")
    with pytest.raises(StoreUnavailable, match=r"ps:\*\*\*@127\.0\.0\.1:1"), engine.connect():
        pass


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("postgresql+psycopg://u:pw@h/db", "postgresql+psycopg://u:***@h/db", id="pw"),
        pytest.param("postgresql://u:p@ss/w@h/db", "postgresql://u:***@h/db", id="at-and-slash"),
        pytest.param("postgresql://u@h/db", "postgresql://u@h/db", id="no-password"),
        pytest.param(
            "postgresql://h/db?password=pw&x=1", "postgresql://h/db?password=***&x=1", id="query"
        ),
        pytest.param("sqlite:///partnersync.db", "sqlite:///partnersync.db", id="sqlite"),
    ],
)
def test_redact_masks_passwords(url: str, shown: str) -> None:
    """Passwords are masked wherever a URL can carry one."""
    assert redact(url) == shown


def test_transaction_commits_or_rolls_back(factory: sessionmaker[Session]) -> None:
    """A transaction block commits on success and leaves nothing behind on an error."""
    kept, dropped = rows.unique("K"), rows.unique("D")
    with transaction(factory) as session:
        rows.partner(session, id=kept)

    def fail_after_adding() -> None:
        with transaction(factory) as session:
            rows.partner(session, id=dropped)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_after_adding()
    with factory() as session:
        found = session.scalars(select(Partner.id).where(Partner.id.in_([kept, dropped]))).all()
    assert found == [kept]


def test_sqlite_is_tuned(tmp_path: Path) -> None:
    """SQLite engines enforce foreign keys, use WAL and wait for a busy writer."""
    engine = make_engine(f"sqlite:///{tmp_path / 'tuned.db'}")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            }
    finally:
        engine.dispose()
    assert pragmas == {"foreign_keys": 1, "journal_mode": "wal", "busy_timeout": 30_000}


def test_sqlite_ddl_is_transactional(tmp_path: Path) -> None:
    """On SQLite a rolled-back transaction takes its DDL with it (migrations are atomic)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'ddl.db'}")

    def fail_half_way() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE half_done (x INTEGER)")
            raise RuntimeError("migration failed")

    try:
        with pytest.raises(RuntimeError, match="migration failed"):
            fail_half_way()
        assert "half_done" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_sqlite_readers_run_beside_a_writer(tmp_path: Path) -> None:
    """A DEFERRED (read-only) transaction reads while another holds the write lock."""
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    upgrade(url)
    writer_engine, reader_engine = make_engine(url), make_engine(url)
    try:
        reader = reader_engine.execution_options(sqlite_begin="DEFERRED")
        with writer_engine.begin() as writer:  # BEGIN IMMEDIATE: holds the write lock
            writer.execute(Partner.__table__.delete())
            with reader.connect() as connection:
                count = connection.execute(select(func.count()).select_from(Partner)).scalar()
        assert count == 0
    finally:
        writer_engine.dispose()
        reader_engine.dispose()


def test_postgres_engine_pings_its_pool(store_engine: Engine) -> None:
    """PostgreSQL engines check pooled connections before use; SQLite ones need not."""
    assert store_engine.pool._pre_ping is (store_engine.dialect.name == "postgresql")


def test_a_reading_session_reads_in_autocommit_and_prepares_its_statements(
    factory: sessionmaker[Session],
) -> None:
    """PostgreSQL: no transaction around the reads, statements prepared on the server,
    and the pooled connection handed back as it was: in a transaction and unprepared for
    whoever takes it next. SQLite: a plain session."""
    kept = rows.unique("R")
    with transaction(factory) as session:
        rows.partner(session, id=kept)
    postgres = factory.kw["bind"].dialect.name == "postgresql"
    statement = select(Partner.name).where(Partner.id == kept)
    with reading(factory) as session:
        assert session.scalar(statement) is not None
        assert session.scalar(statement) is not None
        if postgres:
            driver = session.connection().connection.driver_connection
            assert driver.autocommit is True
            assert driver.prepare_threshold == 0
            prepared = session.scalar(
                text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s"),
                {"s": "%FROM partners%"},
            )
            assert prepared == 1
    with factory() as session:
        if postgres:
            driver = session.connection().connection.driver_connection
            assert driver.autocommit is False
            assert driver.prepare_threshold is None


def test_a_prepared_block_prepares_its_statements_and_hands_back_an_unprepared_connection(
    factory: sessionmaker[Session],
) -> None:
    """PostgreSQL: inside ``prepared`` a transaction's statements are prepared on the
    server at their first run (and reused); after it the connection prepares nothing, in
    the same transaction and in the pool. SQLite: the block runs as it is."""
    kept = rows.unique("P")
    statement = select(Partner.name).where(Partner.id == kept)
    postgres = factory.kw["bind"].dialect.name == "postgresql"
    count = text("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE :s")
    with transaction(factory) as session:
        rows.partner(session, id=kept, name="Prepared Inc")
        with prepared(session) as inside:
            assert inside is session
            assert session.scalar(statement) == "Prepared Inc"
            assert session.scalar(statement) == "Prepared Inc"
            if postgres:
                assert session.scalar(count, {"s": "%FROM partners%"}) == 1
        if postgres:
            driver = session.connection().connection.driver_connection
            assert driver.prepare_threshold is None
            unprepared = select(Partner.tier).where(Partner.id == kept)
            session.scalar(unprepared)
            session.scalar(unprepared)
            assert session.scalar(count, {"s": "%partners.tier%"}) == 0
    with factory() as session:
        if postgres:
            assert session.connection().connection.driver_connection.prepare_threshold is None
