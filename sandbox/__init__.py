"""The CRM sandbox: a local emulator of the Salesforce REST API and the HubSpot CRM v3 API.

It is the CRM, not a client of it: it imports nothing of partnersync. The real
``simple-salesforce`` and ``hubspot-api-client`` talk HTTP to it, in tests, benchmarks,
``partnersync demo`` and ``partnersync sandbox``. This module is its public face; the
modules beneath it are its own business::

    box = Sandbox(SandboxConfig(latency_ms=20, faults=parse_faults("503:0.05")))
    seed_sandbox(box, 1_000)
    with SandboxServer(box) as server:      # a free loopback port: server.url
        ...
    box.salesforce.update("Opportunity", record_id, {"Amount": 10})   # a person in the CRM

:class:`Sandbox` holds one Salesforce org (``box.salesforce``) and one HubSpot portal
(``box.hubspot``) in memory, the knobs (latency, faults, rate and daily limits), call
statistics and a journal of every record write the APIs accepted.
"""

from __future__ import annotations

from sandbox.core import Api, Sandbox, SandboxConfig, WriteEvent
from sandbox.knobs import FaultSpec, FaultSpecError, RateLimitSpec, parse_faults, parse_rate
from sandbox.salesforce.ids import user_id as salesforce_user_id
from sandbox.seed import PARTNERS, SeedPartner, seed_hubspot, seed_salesforce, seed_sandbox
from sandbox.server import PortInUse, SandboxServer, bind, run, serve
from sandbox.users import SALESFORCE_USERS, SandboxUser, salesforce_user

__all__ = [
    "PARTNERS",
    "SALESFORCE_USERS",
    "Api",
    "FaultSpec",
    "FaultSpecError",
    "PortInUse",
    "RateLimitSpec",
    "Sandbox",
    "SandboxConfig",
    "SandboxServer",
    "SandboxUser",
    "SeedPartner",
    "WriteEvent",
    "bind",
    "parse_faults",
    "parse_rate",
    "run",
    "salesforce_user",
    "salesforce_user_id",
    "seed_hubspot",
    "seed_salesforce",
    "seed_sandbox",
    "serve",
]
