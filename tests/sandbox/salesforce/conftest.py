"""Fixtures of the Salesforce sandbox tests: the org and a frozen clock."""

from __future__ import annotations

import pytest

from sandbox.core import Sandbox
from sandbox.salesforce.org import SalesforceOrg
from tests.sandbox.salesforce.helpers import Clock


@pytest.fixture
def clock(sandbox: Sandbox) -> Clock:
    """The sandbox clock, frozen at ``helpers.T0`` until ticked."""
    fake = Clock()
    sandbox.clock = fake
    return fake


@pytest.fixture
def org(sandbox: Sandbox) -> SalesforceOrg:
    """The sandbox's Salesforce org (Python API)."""
    return sandbox.salesforce
