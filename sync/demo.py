"""``partnersync demo``: an embedded run on the CRM sandbox that prints what happened.

It starts a seeded sandbox in-process, points both CRM connectors at it, mirrors every
opportunity / deal into the embedded store, changes a few records in the "CRM" and mirrors
again incrementally. It grows with the product: registration, commissions and write-back
join it as they are built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from connectors.sandbox.core import Sandbox
from connectors.sandbox.seed import PARTNERS, seed_sandbox
from connectors.sandbox.server import SandboxServer
from sync.crm import links
from sync.pull import PullReport, pull
from sync.settings import Settings, redact_url
from sync.store import Opportunity, current_revision, ensure_schema, make_engine, session_factory

__all__ = ["run_demo"]


def _line(report: PullReport) -> str:
    return (
        f"{report.read:,} read, {report.upserted:,} stored, {report.unchanged:,} unchanged, "
        f"{report.deleted:,} deleted, {report.quarantined:,} quarantined, "
        f"{report.api_calls:,} API calls, {report.seconds:.2f} s"
    )


SHIPPED_MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


def _mapping(configured: Path) -> Path:
    """The configured mapping, or the shipped one when run outside the project folder."""
    return configured if configured.exists() else SHIPPED_MAPPINGS / configured.name


def run_demo(settings: Settings, *, records: int, echo: Callable[[str], None]) -> None:
    """Run the demo against an in-process sandbox seeded with ``records`` per CRM."""
    url = settings.store.url
    ensure_schema(url)
    echo(f"1. store ready: {redact_url(url)} at revision {current_revision(url)}")
    factory = session_factory(make_engine(url))

    started = time.perf_counter()
    box = Sandbox()
    seed_sandbox(box, records)
    with SandboxServer(box) as server:
        echo(
            f"2. CRM sandbox on {server.url}: {box.salesforce.count()} Salesforce "
            f"opportunities and {box.hubspot.count()} HubSpot deals, {len(PARTNERS)} partner "
            f"accounts each (seeded in {time.perf_counter() - started:.2f} s)"
        )
        local = settings.model_copy(
            update={
                "salesforce": settings.salesforce.model_copy(
                    update={
                        "instance_url": server.url,
                        "auth": "session",
                        "mapping": _mapping(settings.salesforce.mapping),
                    }
                ),
                "hubspot": settings.hubspot.model_copy(
                    update={"base_url": server.url, "mapping": _mapping(settings.hubspot.mapping)}
                ),
            }
        )
        configured = links(local, "all")
        for link in configured:
            report = pull(factory, link.connector, link.mapping, full=True)
            echo(f"3. mirrored {link.connector.crm} {link.mapping.object}: {_line(report)}")

        opportunity = box.salesforce.records("Opportunity")[0]
        box.salesforce.update("Opportunity", opportunity["Id"], {"Amount": 4242.42})
        box.salesforce.delete("Opportunity", box.salesforce.records("Opportunity")[1]["Id"])
        echo("4. in the CRM: one Salesforce opportunity re-priced to 4242.42, one deleted")
        for link in configured:
            report = pull(factory, link.connector, link.mapping)
            echo(f"5. incremental {link.connector.crm}: {_line(report)}")

    with factory() as session:
        total = session.scalar(select(func.count()).select_from(Opportunity))
        live = session.scalar(
            select(func.count()).select_from(Opportunity).where(Opportunity.deleted.is_(False))
        )
        repriced = session.scalar(
            select(Opportunity.amount).where(Opportunity.crm_id == opportunity["Id"])
        )
    echo(
        f"6. the store mirrors {total:,} deals ({live:,} live); the re-priced one reads {repriced}"
    )
    echo(
        "7. next: deal registration, commissions and write-back are not built yet in this "
        "version; `partnersync sync` runs the mirror against your configured CRMs."
    )
