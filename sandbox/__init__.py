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
(``box.hubspot``) in memory, the knobs, call statistics and a journal of every record
write the APIs accepted. It is as strict as the real services where a sync meets their
limits: rate limits (HubSpot's account window, its per-token search rate, daily
allocations), Salesforce's concurrent long-running request limit, and HubSpot search
lagging behind writes. It sends the services' change notifications too
(``box.webhooks``: HubSpot webhooks signed with ``X-HubSpot-Signature-v3``, Salesforce
Outbound Messages)::

    box = Sandbox(SandboxConfig(
        hubspot_search_rate=parse_rate("5/1s"), search_lag_seconds=3,
        hubspot_webhook_url="http://127.0.0.1:8000/webhooks/hubspot",
        salesforce_outbound_url="http://127.0.0.1:8000/webhooks/salesforce",
    ))
    box.add_deal("hubspot", name="Hooli", customer=company_id)   # deal.creation, soon
    box.webhooks.flush()                                         # wait for deliveries

Every knob, its library default and its ``partnersync sandbox`` default are listed in
:mod:`sandbox.core`; the library defaults keep the sandbox immediate (no search lag, no
search rate), the command's are the real services' (3 s lag, 5 searches a second).
:meth:`Sandbox.close` (or stopping a :class:`SandboxServer`) stops webhook delivery.
"""

from __future__ import annotations

from sandbox.core import Api, Sandbox, SandboxConfig, WriteEvent
from sandbox.knobs import FaultSpec, FaultSpecError, RateLimitSpec, parse_faults, parse_rate
from sandbox.salesforce.ids import user_id as salesforce_user_id
from sandbox.seed import PARTNERS, SeedPartner, seed_hubspot, seed_salesforce, seed_sandbox
from sandbox.server import PortInUse, SandboxServer, bind, run, serve
from sandbox.users import SALESFORCE_USERS, SandboxUser, salesforce_user
from sandbox.webhooks import OUTBOUND_NS, SOBJECT_NS, Webhooks, sign_v3, signing_uri

__all__ = [
    "OUTBOUND_NS",
    "PARTNERS",
    "SALESFORCE_USERS",
    "SOBJECT_NS",
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
    "Webhooks",
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
    "sign_v3",
    "signing_uri",
]
