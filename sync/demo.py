"""``partnersync demo``: an embedded run on the CRM sandbox that prints what happened.

It grows with the product: today it migrates the embedded store, starts a seeded sandbox
in-process and reports what each CRM holds and what the calls cost; the mirror,
registration, commission and write-back steps join it as they are built.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import requests

from connectors.sandbox.core import Sandbox
from connectors.sandbox.seed import PARTNERS, seed_sandbox
from connectors.sandbox.server import SandboxServer
from sync.settings import Settings, redact_url
from sync.store import current_revision, ensure_schema

__all__ = ["run_demo"]


def run_demo(settings: Settings, *, records: int, echo: Callable[[str], None]) -> None:
    """Run the demo against an in-process sandbox seeded with ``records`` per CRM."""
    url = settings.store.url
    ensure_schema(url)
    echo(f"1. store ready: {redact_url(url)} at revision {current_revision(url)}")

    started = time.perf_counter()
    box = Sandbox()
    seed_sandbox(box, records)
    seeded = time.perf_counter() - started
    with SandboxServer(box) as server:
        echo(
            f"2. CRM sandbox on {server.url}: {box.salesforce.count()} Salesforce "
            f"opportunities and {box.hubspot.count()} HubSpot deals, "
            f"{len(PARTNERS)} partner accounts each (seeded in {seeded:.2f} s)"
        )
        health = requests.get(f"{server.url}/_sandbox/health", timeout=10).json()
        echo(f"3. sandbox health: {health['status']}")
    echo(
        "4. next: mirroring, deal registration, commissions and write-back are not built "
        "yet in this version; `partnersync sync` will run them."
    )
