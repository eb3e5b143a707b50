"""Fixtures shared by every test: the CRM sandbox on a free port, real CRM clients, stores.

PostgreSQL and Redis are real services (``PARTNERSYNC_TEST_POSTGRES_URL``,
``PARTNERSYNC_TEST_REDIS_URL``); when one is unreachable its tests fail, they do not skip.
Store tests run once on a SQLite file and once on PostgreSQL, in databases created for
them (``ps_test_<random>``) from the ``test`` database and dropped afterwards. A test
that needs a migrated store gets a copy of one migrated once per session (SQLite: the
file; PostgreSQL: ``CREATE DATABASE ... TEMPLATE``), which is the same schema as running
the migrations again, in a fraction of the time; the migrations' own tests run them.
"""

from __future__ import annotations

import compileall
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pytest
from hubspot import HubSpot
from simple_salesforce import Salesforce
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from connectors.transport import session_for
from sandbox import Sandbox, SandboxConfig, SandboxServer
from sync.store import make_engine, session_factory, upgrade

POSTGRES_URL = os.environ.get(
    "PARTNERSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _redis_url() -> str:
    """``PARTNERSYNC_TEST_REDIS_URL`` (database 15 by default); under pytest-xdist each
    worker takes a database of its own below it (gw0: 15, gw1: 14, ...), so one worker's
    ``FLUSHDB`` never empties another's queue."""
    url = os.environ.get("PARTNERSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw"):
        return url
    base, _, number = url.rpartition("/")
    return f"{base}/{int(number) - int(worker[2:])}"


REDIS_URL = _redis_url()
SF_VERSION = "59.0"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Many tests run partnersync commands as processes. Each would compile the project's
    modules from source again where ``PYTHONDONTWRITEBYTECODE`` is set (as on CI), so they
    are compiled once here (``py_compile`` writes whatever that variable says)."""
    root = Path(__file__).resolve().parents[1]
    for package in ("sync", "connectors", "rules", "sandbox"):
        compileall.compile_dir(root / package, quiet=1)
    compileall.compile_file(root / "worker.py", quiet=1)


@pytest.fixture
def sandbox() -> Sandbox:
    """An empty in-memory sandbox (not served); tests may seed or reconfigure it."""
    return Sandbox(SandboxConfig())


@pytest.fixture
def sandbox_server(sandbox: Sandbox) -> Iterator[SandboxServer]:
    """``sandbox`` served over HTTP on a free loopback port."""
    with SandboxServer(sandbox) as server:
        yield server


def make_salesforce(
    server: SandboxServer, session_id: str = "sandbox", **kwargs: Any
) -> Salesforce:
    """The real simple-salesforce client, pointed at the sandbox over plain http."""
    session, url = session_for(server.url)
    return Salesforce(
        instance_url=url, session_id=session_id, version=SF_VERSION, session=session, **kwargs
    )


def make_hubspot(server: SandboxServer, access_token: str = "sandbox", **kwargs: Any) -> HubSpot:
    """The real hubspot-api-client, pointed at the sandbox."""
    return HubSpot(access_token=access_token, host=server.url, **kwargs)


@pytest.fixture
def sf(sandbox_server: SandboxServer) -> Salesforce:
    """A simple-salesforce client on the served sandbox, with the static session id."""
    return make_salesforce(sandbox_server)


@pytest.fixture
def hs(sandbox_server: SandboxServer) -> HubSpot:
    """A hubspot-api-client on the served sandbox, with the static access token."""
    return make_hubspot(sandbox_server)


@pytest.fixture
def sf_factory(sandbox_server: SandboxServer) -> Callable[..., Salesforce]:
    """Builds more simple-salesforce clients (other session ids, options)."""
    return lambda **kw: make_salesforce(sandbox_server, **kw)


@pytest.fixture
def hs_factory(sandbox_server: SandboxServer) -> Callable[..., HubSpot]:
    """Builds more HubSpot clients (other tokens, a urllib3 Retry, ...)."""
    return lambda **kw: make_hubspot(sandbox_server, **kw)


# --- stores ------------------------------------------------------------------------

DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


class NewDatabase(Protocol):
    """Builds the URL of a new database of the given dialect: empty, or ``migrated`` to
    head (a copy of the session's template)."""

    def __call__(self, dialect: str, *, migrated: bool = False) -> str: ...


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An AUTOCOMMIT engine on the ``test`` database, to create and drop databases."""
    engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable: {exc.orig}", pytrace=False)
    yield engine
    engine.dispose()


def _postgres_url(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def migrated_templates(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[dict[str, str]]:
    """Per dialect, a database migrated to head once, on first use: the SQLite file's path
    or the PostgreSQL database's name, to copy from."""

    admins: list[Engine] = []

    class Templates(dict[str, str]):
        def __missing__(self, dialect: str) -> str:
            if dialect == "sqlite":
                path = tmp_path_factory.mktemp("template") / "head.db"
                upgrade(f"sqlite:///{path}")  # its engine is disposed: the WAL is folded in
                self[dialect] = str(path)
            else:
                name = f"ps_template_{uuid.uuid4().hex[:12]}"
                admins.append(request.getfixturevalue("postgres_admin"))
                with admins[0].connect() as connection:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                upgrade(_postgres_url(name))
                self[dialect] = name
            return self[dialect]

    templates = Templates()
    yield templates
    if admins:
        with admins[0].connect() as connection:
            name = templates["postgres"]
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _new_database_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NewDatabase]:
    created: list[tuple[Engine, str]] = []

    def new(dialect: str, *, migrated: bool = False) -> str:
        name = f"ps_test_{uuid.uuid4().hex[:12]}"
        template = request.getfixturevalue("migrated_templates")[dialect] if migrated else None
        if dialect == "sqlite":
            path = tmp_path / f"{name}.db"
            if template is not None:
                shutil.copyfile(template, path)
            return f"sqlite:///{path}"
        admin: Engine = request.getfixturevalue("postgres_admin")
        with admin.connect() as connection:
            copy = f' TEMPLATE "{template}"' if template is not None else ""
            connection.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        created.append((admin, name))
        return _postgres_url(name)

    yield new
    for admin, name in created:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def new_database(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[NewDatabase]:
    """Creates empty databases for one test and drops them after it."""
    yield from _new_database_factory(tmp_path, request)


@pytest.fixture(scope="module")
def new_module_database(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[NewDatabase]:
    """Creates empty databases for one test module and drops them after it."""
    yield from _new_database_factory(tmp_path_factory.mktemp("store"), request)


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres``: the test runs once on each."""
    return str(request.param)


@pytest.fixture
def empty_url(dialect: str, new_database: NewDatabase) -> str:
    """The URL of a new database that was never migrated."""
    return new_database(dialect)


@pytest.fixture
def store(dialect: str, new_database: NewDatabase) -> Iterator[sessionmaker[Session]]:
    """Sessions on a new database migrated to head (one per test and dialect)."""
    url = new_database(dialect, migrated=True)
    engine = make_engine(url)
    yield session_factory(engine)
    engine.dispose()
