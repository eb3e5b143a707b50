"""Our connectors on the served sandbox, the shipped mappings, and store look-ups for tests.

Nothing is mocked: the connectors talk HTTP to the sandbox through simple-salesforce and
hubspot-api-client. Retry sleeps are skipped so storms pass quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import CrmConnector
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.retry import RetryPolicy
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from sandbox import Sandbox, SandboxServer, seed_hubspot, seed_salesforce
from sync.mapping import CompiledMapping, load_mapping
from sync.store import Opportunity

REPO = Path(__file__).resolve().parents[2]
SF_MAPPING = load_mapping(REPO / "mappings" / "salesforce.toml")
HS_MAPPING = load_mapping(REPO / "mappings" / "hubspot.toml")
NO_WAIT = RetryPolicy(attempts=12, sleep=lambda _: None)


def salesforce(server: SandboxServer, **overrides: Any) -> SalesforceConnector:
    settings: dict[str, Any] = {"session_id": "sandbox", "retry": NO_WAIT, **overrides}
    return SalesforceConnector(SalesforceConfig(instance_url=server.url, **settings))


def hubspot(server: SandboxServer, **overrides: Any) -> HubSpotConnector:
    settings: dict[str, Any] = {"access_token": "sandbox", "retry": NO_WAIT, **overrides}
    return HubSpotConnector(HubSpotConfig(base_url=server.url, **settings))


#: crm -> (connector builder, shipped mapping, seeder)
LINKS: dict[str, tuple[Callable[..., CrmConnector], CompiledMapping, Callable[..., None]]] = {
    "salesforce": (salesforce, SF_MAPPING, seed_salesforce),
    "hubspot": (hubspot, HS_MAPPING, seed_hubspot),
}


def mirrored(factory: sessionmaker[Session], crm: str) -> dict[str, Opportunity]:
    """crm id -> mirror row, for every record of ``crm`` in the store. It reads beside a
    running pull (SQLite: ``BEGIN DEFERRED``), never queueing for the pull's write lock."""
    reader = factory.kw["bind"].execution_options(sqlite_begin="DEFERRED")
    with factory(bind=reader) as session:
        rows = session.scalars(select(Opportunity).where(Opportunity.crm == crm)).all()
        return {row.crm_id: row for row in rows}


def crm_field(sandbox: Sandbox, crm: str, record_id: str, name: str) -> Any:
    """A field of one record as the sandbox holds it now (deleted/archived ones too)."""
    if crm == "salesforce":
        return sandbox.salesforce.table("Opportunity").as_dict(
            sandbox.salesforce.table("Opportunity").get(record_id)  # type: ignore[arg-type]
        )[name]
    record = sandbox.hubspot.get("deals", record_id)
    assert record is not None
    return record["properties"].get(name)


def edit_in_crm(sandbox: Sandbox, crm: str, record_id: str, values: dict[str, Any]) -> None:
    """Change a record the way a person in the CRM's UI would (not through our API calls)."""
    if crm == "salesforce":
        sandbox.salesforce.update("Opportunity", record_id, values)
    else:
        sandbox.hubspot.update("deals", record_id, values)
