"""Fixtures of the HubSpot sandbox tests: the portal, a frozen clock, raw HTTP, makers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.core import Sandbox
from sandbox.hubspot.portal import HubSpotPortal
from sandbox.server import SandboxServer
from tests.sandbox.hubspot.helpers import Clock, Http


@pytest.fixture
def clock(sandbox: Sandbox) -> Clock:
    """The sandbox clock, frozen at ``helpers.T0`` until ticked."""
    fake = Clock()
    sandbox.clock = fake
    return fake


@pytest.fixture
def portal(sandbox: Sandbox) -> HubSpotPortal:
    """The sandbox's HubSpot portal (Python API)."""
    return sandbox.hubspot


@pytest.fixture
def http(sandbox_server: SandboxServer) -> Http:
    """Raw HTTP with the static access token."""
    return Http(sandbox_server.url)


@pytest.fixture
def make_deal(portal: HubSpotPortal) -> Callable[..., str]:
    """Creates a deal through the Python API: ``make_deal(dealname="X", amount="5")``."""

    def make(**properties: str | None) -> str:
        properties.setdefault("dealname", "Deal")
        return portal.create("deals", properties)

    return make


@pytest.fixture
def make_company(portal: HubSpotPortal) -> Callable[..., str]:
    """Creates a company through the Python API."""

    def make(**properties: str | None) -> str:
        properties.setdefault("name", "Company")
        return portal.create("companies", properties)

    return make
