"""The push's API calls and wall time against a realistic CRM round trip, with a baseline.

Starts ``partnersync sandbox --seed N`` in its own process, mirrors the N records of each
CRM into a SQLite store, stages four outbound values for every record (a registration
status, a protection date, an accrued commission, a payout reference: different on every
record), sets the sandbox's latency to 100 ms a call, and pushes. Prints, per CRM:

- API calls of the push next to the floor (ceil(N/200) Salesforce, ceil(N/100) HubSpot);
- its wall time, sequential (one request in flight) and with the configured concurrency;
- the same for a naive updater, what users write by hand: one ``update`` call per record
  through the client (``sf.Opportunity.update``, ``basic_api.update``). It is timed on
  ``--naive`` records (500) and extrapolated to N, which the output says;
- the wall-time ratio naive / push (aim: at least 100x).

    .venv/bin/python bench/push.py [--records 10000] [--latency-ms 100] [--naive 500]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
from hubspot.crm.deals import SimplePublicObjectInput
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sandbox import start_sandbox
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.wire import dumps_exact
from sync.log import configure_logging
from sync.mapping import CompiledMapping, crm_targets, load_mapping
from sync.mirror.pull import pull
from sync.plain import plain as plain_value
from sync.settings import SyncSettings
from sync.store import Opportunity, make_engine, session_factory, transaction, upgrade
from sync.writeback.outbox import stage
from sync.writeback.push import push

REPO = Path(__file__).resolve().parents[1]
BATCH = {"salesforce": 200, "hubspot": 100}


def connector(crm: str, url: str) -> SalesforceConnector | HubSpotConnector:
    if crm == "salesforce":
        return SalesforceConnector(SalesforceConfig(instance_url=url, session_id="sandbox"))
    return HubSpotConnector(HubSpotConfig(base_url=url, access_token="sandbox"))


def desired(index: int, generation: int) -> dict[str, Any]:
    """Values for record ``index``; each ``generation`` differs, so every push has work."""
    return {
        "registration.status": "approved" if generation % 2 == 0 else "won",
        "registration.protected_until": date(2027, 1, 1) + timedelta(days=index % 300),
        "commission.accrued": Decimal(f"{index}.{generation:02d}"),
        "payout.reference": f"PAY-{generation}-{index:06d}",
    }


def stage_everything(factory: sessionmaker[Session], crm: str, generation: int) -> list[str]:
    """Stage a new generation of values for every record of ``crm``; returns the ids."""
    with transaction(factory) as session:
        rows = session.scalars(
            select(Opportunity).where(Opportunity.crm == crm).order_by(Opportunity.id)
        ).all()
        for index, opportunity in enumerate(rows):
            stage(session, opportunity, desired(index, generation))
        return [row.crm_id for row in rows]


def set_latency(url: str, ms: float) -> None:
    requests.put(f"{url}/_sandbox/config", json={"latency_ms": ms}, timeout=10).raise_for_status()


def naive(crm: str, url: str, mapping: CompiledMapping, ids: list[str]) -> tuple[int, float]:
    """One client ``update`` per record, the same four fields; returns (calls, seconds)."""
    link = connector(crm, url)
    client: Any = link.client
    started = time.perf_counter()
    for index, record_id in enumerate(ids):
        plain = {k: plain_value(v) for k, v in desired(index, 99).items()}
        values = {name: t.value for name, t in crm_targets(mapping, plain).items()}
        if crm == "salesforce":  # sf.Opportunity.update, with money sent as exact JSON numbers
            client.restful(
                f"sobjects/Opportunity/{record_id}", method="PATCH", data=dumps_exact(values)
            )
        else:
            properties = {k: str(v) for k, v in values.items()}
            client.crm.deals.basic_api.update(
                record_id, SimplePublicObjectInput(properties=properties)
            )
    return len(ids), time.perf_counter() - started


def timed_push(
    factory: sessionmaker[Session], crm: str, url: str, mapping: CompiledMapping, concurrency: int
) -> tuple[int, int, float]:
    report = push(factory, connector(crm, url), mapping, concurrency=concurrency)
    if report.done != report.considered:
        raise SystemExit(f"{crm}: the push left {report.considered - report.done} records")
    return report.sent, report.api_calls, report.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--naive", type=int, default=500)
    args = parser.parse_args()
    configure_logging("warning")
    n = args.records
    concurrency = SyncSettings().push_concurrency
    process, url, _ = start_sandbox(n)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = f"sqlite:///{Path(tmp) / 'push.db'}"
            upgrade(store)
            factory = session_factory(make_engine(store))
            print(f"N = {n:,} records per CRM, sandbox latency {args.latency_ms:g} ms a call")
            print(
                f"{'crm':<11}{'mode':<26}{'records':>8}{'calls':>7}{'floor':>7}"
                f"{'seconds':>9}{'rec/s':>8}"
            )
            rows: dict[str, dict[str, float]] = {}
            for crm in ("salesforce", "hubspot"):
                mapping = load_mapping(REPO / "mappings" / f"{crm}.toml")
                set_latency(url, 0)
                pull(factory, connector(crm, url), mapping)
                floor = math.ceil(n / BATCH[crm])
                results: dict[str, float] = {}
                for generation, (label, workers) in enumerate(
                    ((f"push, {concurrency} in flight", concurrency), ("push, sequential", 1))
                ):
                    set_latency(url, 0)
                    ids = stage_everything(factory, crm, generation)
                    set_latency(url, args.latency_ms)
                    sent, calls, seconds = timed_push(factory, crm, url, mapping, workers)
                    results[label] = seconds
                    print(
                        f"{crm:<11}{label:<26}{sent:>8,}{calls:>7,}{floor:>7,}"
                        f"{seconds:>9.2f}{sent / seconds:>8,.0f}"
                    )
                sample = ids[: args.naive]
                calls, seconds = naive(crm, url, mapping, sample)
                extrapolated = seconds * n / len(sample)
                label = f"naive ({len(sample)} timed)"
                print(
                    f"{crm:<11}{label:<26}{len(sample):>8,}{calls:>7,}{'':>7}"
                    f"{seconds:>9.2f}{len(sample) / seconds:>8,.1f}"
                )
                print(
                    f"{crm:<11}{'naive, extrapolated to N':<26}{n:>8,}{n:>7,}{'':>7}"
                    f"{extrapolated:>9.1f}{n / extrapolated:>8,.1f}"
                )
                results["naive"] = extrapolated
                rows[crm] = results
            print()
            for crm, results in rows.items():
                best = min(v for k, v in results.items() if k != "naive")
                sequential = results["push, sequential"]
                print(
                    f"{crm}: naive / push = {results['naive'] / best:,.0f}x "
                    f"({results['naive'] / sequential:,.0f}x with one request in flight); "
                    f"naive figures are extrapolated from {args.naive} records"
                )
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
