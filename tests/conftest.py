"""Fixtures shared by every test: the CRM sandbox on a free port, real CRM clients, services.

PostgreSQL and Redis are real services (``PARTNERSYNC_TEST_POSTGRES_URL``,
``PARTNERSYNC_TEST_REDIS_URL``); when one is unreachable its tests fail, they do not skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from simple_salesforce import Salesforce

from connectors.sandbox.core import Sandbox, SandboxConfig
from connectors.sandbox.server import SandboxServer
from connectors.transport import session_for

POSTGRES_URL = os.environ.get(
    "PARTNERSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("PARTNERSYNC_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SF_VERSION = "59.0"


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
