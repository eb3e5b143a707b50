"""Schema migrations, run from code: no ``alembic.ini`` needed where partnersync runs.

``upgrade`` migrates a database (``partnersync db upgrade`` calls it); ``ensure_schema``
is what every entry point calls before using the store: the embedded SQLite store
migrates itself on first use, while a server database is only ever migrated on purpose
(it may be shared by several processes and versions), so it must be at the head already.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from sync.store.db import make_engine, redact
from sync.store.errors import SchemaOutOfDate, StoreError

__all__ = [
    "MIGRATIONS_DIR",
    "alembic_config",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "upgrade",
]

#: The Alembic script directory shipped inside the package.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for the shipped migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this version of partnersync needs (the single head)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships a revision
        raise StoreError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def upgrade(url: str | Engine, revision: str = "head") -> None:
    """Migrate the store at ``url`` (or on an engine) to ``revision``; idempotent.

    Everything runs in one transaction on both dialects (SQLite DDL included), so a
    failed migration leaves the database as it was.
    """
    with _connection(url) as connection:
        try:
            command.upgrade(alembic_config(connection), revision)
        except CommandError as exc:
            raise SchemaOutOfDate(f"cannot migrate the store at {_shown(url)}: {exc}") from exc
        except DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StoreError(f"migrating the store at {_shown(url)} failed: {reason}") from exc


def current_revision(url: str | Engine) -> str | None:
    """The revision the store at ``url`` is at; ``None`` for a database never migrated."""
    if isinstance(url, str) and _missing_sqlite_file(url):
        return None  # do not create an empty file just to look at it
    with _connection(url) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def ensure_schema(url: str | Engine) -> None:
    """Make sure the store is at the head revision before it is used.

    SQLite (the embedded default) is migrated on the spot. Any other database must have
    been migrated with ``partnersync db upgrade``; if it is behind, :class:`SchemaOutOfDate`
    says so. A database ahead of this partnersync (unknown revision) is refused on both.
    """
    head = head_revision()
    current = current_revision(url)
    if current == head:
        return
    scripts = ScriptDirectory.from_config(alembic_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise SchemaOutOfDate(
            f"the store at {_shown(url)} is at revision {current}, which this partnersync "
            f"does not know (it needs {head}); is a newer partnersync using it?"
        )
    if _dialect(url) == "sqlite":
        upgrade(url)
        return
    raise SchemaOutOfDate(
        f"the store at {_shown(url)} is at revision {current or 'none (empty database)'} "
        f"but this partnersync needs {head}: run `partnersync db upgrade`"
    )


@contextmanager
def _connection(url: str | Engine) -> Iterator[Connection]:
    """A connection in a transaction, on ``url`` (a throwaway engine) or on an engine."""
    if isinstance(url, Engine):
        with url.begin() as connection:
            yield connection
        return
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def _shown(url: str | Engine) -> str:
    return redact(url.url if isinstance(url, Engine) else url)


def _dialect(url: str | Engine) -> str:
    return url.dialect.name if isinstance(url, Engine) else make_url(url).get_backend_name()


def _missing_sqlite_file(url: str) -> bool:
    try:
        parsed = make_url(url)
    except ArgumentError:
        return False  # make_engine reports a bad URL properly
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return False
    if parsed.query.get("mode") == "memory" or parsed.database.startswith("file:"):
        return False
    path = Path(parsed.database)
    # A missing directory is an error worth reporting (on connect), not an empty store.
    return path.parent.is_dir() and not path.exists()
