"""Store fixtures: one migrated database per module and dialect (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from sync.store import make_engine, session_factory, upgrade
from tests.conftest import DIALECTS, NewDatabase


@pytest.fixture(scope="module", params=DIALECTS)
def store_engine(
    request: pytest.FixtureRequest, new_module_database: NewDatabase
) -> Iterator[Engine]:
    """An engine on a database migrated to head, shared by one module's tests."""
    url = new_module_database(str(request.param))
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def factory(store_engine: Engine) -> sessionmaker[Session]:
    """The session factory on the module's migrated database."""
    return session_factory(store_engine)


@pytest.fixture
def session(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session on the module's migrated database; whatever it left open is rolled back."""
    with factory() as session:
        yield session
        session.rollback()
