"""Migrations: empty to head on both dialects, idempotent, and exactly what the models say."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.engine import Connection, make_url

from sync.store import (
    Base,
    SchemaOutOfDate,
    current_revision,
    ensure_schema,
    head_revision,
    make_engine,
    upgrade,
)
from sync.store.schema import alembic_config
from tests.sync.store.conftest import NewDatabase


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_to_head_twice(empty_url: str) -> None:
    """Upgrading an empty database reaches head with every model table; a rerun is a no-op."""
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision() == "0010"
    assert tables(empty_url) == set(Base.metadata.tables) | {"alembic_version"}


def test_migrated_schema_matches_models(empty_url: str) -> None:
    """After upgrade, Alembic's comparison of database and models finds no difference."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_migrated_check_constraints_match_models(empty_url: str) -> None:
    """Every CHECK the models declare exists under the same name (Alembic does not compare them)."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            declared = {
                str(constraint.name)
                for constraint in table.constraints
                if isinstance(constraint, CheckConstraint)
            }
            reflected = {check["name"] for check in inspector.get_check_constraints(table.name)}
            assert reflected == declared, table.name
    finally:
        engine.dispose()


def test_downgrade_to_base_removes_everything(empty_url: str) -> None:
    """The initial revision's downgrade drops every table it created."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
    finally:
        engine.dispose()
    assert tables(empty_url) == {"alembic_version"}
    assert current_revision(empty_url) is None


def test_ensure_schema_on_an_empty_database(dialect: str, empty_url: str) -> None:
    """SQLite migrates itself on first use; PostgreSQL says to run `partnersync db upgrade`."""
    if dialect == "sqlite":
        ensure_schema(empty_url)
        assert current_revision(empty_url) == head_revision()
        return
    with_password = make_url(empty_url).set(password="hunter2").render_as_string(False)
    with pytest.raises(SchemaOutOfDate, match=r"run `partnersync db upgrade`") as caught:
        ensure_schema(with_password)  # trust authentication ignores the password
    message = str(caught.value)
    assert "none (empty database)" in message
    assert "hunter2" not in message
    assert ":***@" in message
    assert "\n" not in message
    assert current_revision(empty_url) is None


def test_ensure_schema_on_a_migrated_database(empty_url: str) -> None:
    """A database at head passes ensure_schema untouched, on both dialects."""
    upgrade(empty_url)
    ensure_schema(empty_url)
    assert current_revision(empty_url) == head_revision()


def test_ensure_schema_refuses_an_unknown_revision(empty_url: str) -> None:
    """A database migrated by a newer partnersync is refused rather than touched."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    finally:
        engine.dispose()
    with pytest.raises(SchemaOutOfDate, match="revision 9999, which this partnersync does not"):
        ensure_schema(empty_url)


def test_ensure_schema_creates_a_missing_sqlite_file(tmp_path: Path) -> None:
    """The embedded default: a SQLite file that does not exist yet is created at head."""
    path = tmp_path / "partnersync.db"
    url = f"sqlite:///{path}"
    assert current_revision(url) is None
    assert not path.exists(), "looking at the revision must not create the file"
    ensure_schema(url)
    assert path.exists()
    assert current_revision(url) == head_revision()


def test_upgrade_accepts_an_engine(dialect: str, new_database: NewDatabase) -> None:
    """upgrade/current_revision/ensure_schema also work on an engine (in-memory SQLite too)."""
    url = "sqlite://" if dialect == "sqlite" else new_database(dialect)
    engine = make_engine(url)
    try:
        if dialect == "sqlite":
            ensure_schema(engine)  # in memory: only this engine's connection sees it
        else:
            upgrade(engine)
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
    finally:
        engine.dispose()


def test_deals_mirrored_before_0002_get_their_customer_keys(empty_url: str) -> None:
    """`db upgrade` gives the deals mirrored before customer keys existed their keys (as
    the pull computes them now), without a re-read of the CRM."""
    upgrade(empty_url, "0001")
    engine = make_engine(empty_url)
    try:
        with engine.begin() as connection:
            for n, (name, domain) in enumerate(
                [("Acme, Inc.", "https://www.acme.co.uk/about"), ("Globex GmbH", None),
                 (None, "jane@gmail.com")], start=1,
            ):  # fmt: skip
                connection.execute(
                    text(
                        "INSERT INTO opportunities (id, crm, crm_id, name, account_name, "
                        "account_domain, is_closed, is_won, crm_modified_at, deleted, "
                        "crm_values, first_seen_at, updated_at) VALUES (:id, 'salesforce', "
                        ":crm_id, 'Deal', :name, :domain, false, false, :at, false, '{}', "
                        ":at, :at)"
                    ),
                    {"id": n, "crm_id": f"006{n}", "name": name, "domain": domain,
                     "at": "2026-01-01 00:00:00+00:00"},
                )  # fmt: skip
        upgrade(empty_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT customer_name_key, customer_domain_key FROM opportunities ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in rows] == [("acme", "acme.co.uk"), ("globex", None), (None, None)]


def _seed_registrations(
    connection: Connection, rows: list[tuple[int, str, str | None, str, list[str]]]
) -> None:
    """Partner ACME and its registrations as the SQL of an older revision writes them:
    (id, status, domain key, customer key, name words in the fuzzy index)."""
    at = "2026-01-01 00:00:00+00:00"
    connection.execute(
        text("INSERT INTO partners (id, name, tier, created_at, active) "
             "VALUES ('ACME', 'Acme', 'gold', :at, true)"), {"at": at}
    )  # fmt: skip
    for id_, status, domain, key, words in rows:
        connection.execute(
            text(
                "INSERT INTO registrations (id, partner_id, customer_name, customer_name_key, "
                "customer_domain_key, customer_key, status, extensions_used, source, "
                "submitted_at, updated_at) VALUES (:id, 'ACME', 'Acme Works', 'acme works', "
                ":domain, :key, :status, 0, 'cli', :at, :at)"
            ),
            {"id": id_, "status": status, "domain": domain, "key": key, "at": at},
        )
        for word in words:
            connection.execute(
                text("INSERT INTO registration_tokens (token, registration_id) "
                     "VALUES (:word, :id)"), {"word": word, "id": id_}
            )  # fmt: skip


def test_0004_keeps_the_name_words_of_live_registrations_only(empty_url: str) -> None:
    """Registrations that ended before 0004 leave the fuzzy index; live ones stay."""
    upgrade(empty_url, "0002")
    engine = make_engine(empty_url)
    states = ("pending", "expired", "conflict", "lost")
    try:
        with engine.begin() as connection:
            _seed_registrations(connection, [
                (n, status, None, f"name:acme{n}", ["acme"])
                for n, status in enumerate(states, start=1)
            ])  # fmt: skip
        upgrade(empty_url)
        with engine.connect() as connection:
            kept = connection.execute(
                text("SELECT registration_id FROM registration_tokens ORDER BY registration_id")
            ).scalars().all()  # fmt: skip
    finally:
        engine.dispose()
    assert kept == [1, 3]


def test_0010_marks_the_words_of_registrations_without_a_domain(empty_url: str) -> None:
    """The words already in the fuzzy index learn whether their registration has a
    customer domain (none, or an empty one); a downgrade drops the mark."""
    upgrade(empty_url, "0009")
    engine = make_engine(empty_url)
    domains = ("acme.com", None, "", "acme.de")
    try:
        with engine.begin() as connection:
            _seed_registrations(connection, [
                (n, "pending", domain, domain or f"name:acme{n}", ["acme", "works"])
                for n, domain in enumerate(domains, start=1)
            ])  # fmt: skip
        upgrade(empty_url)
        with engine.connect() as connection:
            marked = connection.execute(
                text("SELECT registration_id, token FROM registration_tokens "
                     "WHERE domainless ORDER BY registration_id, token")
            ).tuples().all()  # fmt: skip
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0009")
        columns = {c["name"] for c in inspect(engine).get_columns("registration_tokens")}
    finally:
        engine.dispose()
    assert marked == [(2, "acme"), (2, "works"), (3, "acme"), (3, "works")]
    assert "domainless" not in columns


def test_partial_indexes_match_models(empty_url: str) -> None:
    """Every partial index the models declare exists with its condition after upgrade
    (Alembic compares names and columns, not conditions), and a downgrade past 0004
    makes the sparse ones whole again."""
    upgrade(empty_url)
    engine = make_engine(empty_url)
    dialect = engine.dialect.name
    declared = {
        index.name: str(index.dialect_options[dialect]["where"])
        for table in Base.metadata.tables.values()
        for index in table.indexes
        if index.dialect_options[dialect]["where"] is not None
    }
    query = (
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        if dialect == "sqlite"
        else "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )

    def conditions() -> dict[str, str]:
        with engine.connect() as connection:
            rows = connection.execute(text(query)).tuples().all()
        return {name: sql.split(" WHERE ", 1)[1] for name, sql in rows if " WHERE " in sql}

    try:
        found = conditions()
        assert set(found) == set(declared)
        for name in ("ix_registrations_opportunity_id", "ix_registrations_conflict_with",
                     "ix_opportunities_registration_key"):  # fmt: skip
            assert "IS NOT NULL" in found[name].upper()
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0003")
        assert "ix_registrations_opportunity_id" not in conditions()
    finally:
        engine.dispose()
