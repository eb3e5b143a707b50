"""``partnersync demo``: an embedded run on the CRM sandbox that prints what happened.

It starts a seeded sandbox in-process, points both CRM connectors at it, mirrors every
opportunity / deal into the embedded store, changes a few records in the "CRM" and mirrors
again incrementally. Then it exercises the write-back: it stages a registration status and
protection date for every partner deal (what the registration service of a later version
will do through the same function), pushes them in batches, shows that the next pull sees
only its own writes, and that a field edited by hand in the CRM is restored and audited.
It grows with the product: registration and commissions join it as they are built.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from connectors.sandbox.core import Sandbox
from connectors.sandbox.salesforce.ids import user_id
from connectors.sandbox.seed import PARTNERS, seed_sandbox
from connectors.sandbox.server import SandboxServer
from sync.crm import links
from sync.outbox import stage
from sync.pull import PullReport, pull
from sync.push import push
from sync.settings import Settings, redact_url
from sync.store import (
    AuditEntry,
    Opportunity,
    current_revision,
    ensure_schema,
    make_engine,
    session_factory,
    transaction,
)

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

        with transaction(factory) as session:
            partner_deals = session.scalars(
                select(Opportunity).where(
                    Opportunity.partner_ref.is_not(None), Opportunity.deleted.is_(False)
                )
            ).all()
            for deal in partner_deals:
                close = deal.close_date or datetime.now(UTC).date()
                stage(
                    session,
                    deal,
                    {
                        "registration.status": "approved",
                        "registration.protected_until": close + timedelta(days=90),
                    },
                )
        echo(
            f"6. staged a registration status and protection date for the "
            f"{len(partner_deals):,} deals that name a partner (into the outbox, as the "
            "registration service will)"
        )
        for link in configured:
            pushed = push(factory, link.connector, link.mapping, concurrency=4)
            echo(
                f"7. pushed to {link.connector.crm}: {pushed.sent:,} records in "
                f"{pushed.api_calls:,} API calls ({link.connector.write_batch_size} a call), "
                f"{pushed.done:,} done, {pushed.rejected:,} rejected"
            )
        for link in configured:
            report = pull(factory, link.connector, link.mapping)
            again = push(factory, link.connector, link.mapping)
            echo(
                f"8. next pull of {link.connector.crm} reads our own writes back "
                f"({report.read:,} records): {report.drifted} drifted, and the push after it "
                f"needs {again.api_calls} API calls"
            )

        edited = next((d for d in partner_deals if d.crm == "salesforce"), None)
        if edited is not None:
            box.salesforce.update(
                "Opportunity",
                edited.crm_id,
                {"Registration_Status__c": "Rejected", "LastModifiedById": user_id(7)},
            )
            salesforce = next(link for link in configured if link.connector.crm == "salesforce")
            report = pull(factory, salesforce.connector, salesforce.mapping)
            restore = push(factory, salesforce.connector, salesforce.mapping)
            shown = box.salesforce.get("Opportunity", edited.crm_id) or {}
            echo(
                f"9. a rep set {edited.name!r} to Rejected by hand: the pull saw "
                f"{report.drifted} drifted record, the push restored it in "
                f"{restore.api_calls} call (now {shown.get('Registration_Status__c')})"
            )

    with factory() as session:
        total = session.scalar(select(func.count()).select_from(Opportunity))
        live = session.scalar(
            select(func.count()).select_from(Opportunity).where(Opportunity.deleted.is_(False))
        )
        repriced = session.scalar(
            select(Opportunity.amount).where(Opportunity.crm_id == opportunity["Id"])
        )
        drift = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "crm_drift")
            .order_by(AuditEntry.id.desc())
        ).first()
    echo(
        f"10. the store mirrors {total:,} deals ({live:,} live); the re-priced one reads {repriced}"
    )
    if drift is not None:
        echo(f"11. audit: {drift.reason}")
    echo(
        "next: deal registration and commissions are not built yet in this version; "
        "`partnersync sync` mirrors and pushes against your configured CRMs."
    )
