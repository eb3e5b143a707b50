"""The mirror's speed, API calls and memory against the sandbox, with baselines from the same run.

Prints, for N records (default 100,000) per CRM:

- the bare reads, nothing stored (the baselines): Salesforce ``query_all_iter`` over the
  same fields through a stock client (and, for reference, the connector's own client);
  HubSpot ``basic_api.get_page`` over the same properties, companies associated, through
  a stock client holding its API object (the mirror also reads the companies themselves:
  a few more calls);
- the full mirror into SQLite and into PostgreSQL, with the handlers ``partnersync sync``
  runs on each page (drift correction): records/s and the ratio to its CRM's bare read;
  into SQLite also with no handler at all, so the hook's own cost shows in the same run;
- API calls next to the floor (ceil(N/2000) Salesforce pages; ceil(N/100) HubSpot pages);
- peak memory (max RSS of a child process) mirroring 10,000 vs N records;
- a no-change incremental run: API calls and wall time.

    .venv/bin/python bench/mirror.py [--records 100000] [--runs 3]

Each figure is the fastest of ``--runs`` runs, bare reads and mirrors interleaved: this
machine's speed drifts by a quarter over a minute, which one run would take for a result.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import orjson
from hubspot import HubSpot
from simple_salesforce.api import Salesforce
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sandbox import start_sandbox
from connectors.base import CrmConnector
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.transport import session_for
from sync.crm import CrmLink
from sync.cycle import mirror_handlers
from sync.log import configure_logging
from sync.mapping import load_mapping
from sync.mirror.handlers import MirrorHandler
from sync.mirror.pull import pull
from sync.settings import Settings, SyncSettings
from sync.store import make_engine, session_factory, upgrade

REPO = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"


def connector(crm: str, url: str) -> SalesforceConnector | HubSpotConnector:
    if crm == "salesforce":
        return SalesforceConnector(SalesforceConfig(instance_url=url, session_id="sandbox"))
    return HubSpotConnector(HubSpotConfig(base_url=url, access_token="sandbox"))


def mirror(crm: str, url: str, store_url: str, *, hooked: bool = True) -> dict[str, float]:
    """One full pull then one no-change incremental into ``store_url``, with the handlers
    a sync runs (``hooked``) or none."""
    upgrade(store_url)
    factory = session_factory(make_engine(store_url))
    mapping = load_mapping(REPO / "mappings" / f"{crm}.toml")

    def handlers(link: CrmConnector) -> list[MirrorHandler]:
        return mirror_handlers(Settings(), CrmLink(link, mapping)) if hooked else []

    first = connector(crm, url)
    started = time.perf_counter()
    full = pull(factory, first, mapping, handlers=handlers(first))
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    # As `partnersync sync` runs it: HubSpot's archived listing at most every 300 s.
    every = timedelta(seconds=SyncSettings().deletes_check_seconds)
    second = connector(crm, url)
    again = pull(factory, second, mapping, deletes_every=every, handlers=handlers(second))
    return {
        "records": full.upserted,
        "seconds": seconds,
        "calls": full.api_calls,
        "incremental_calls": again.api_calls,
        "incremental_seconds": time.perf_counter() - started,
    }


def bare_read(url: str, *, stock: bool = True) -> tuple[int, float]:
    """``query_all_iter`` over the mirror's fields: through a stock simple-salesforce client
    (OrderedDict decoding: the baseline) or, ``stock=False``, the connector's own client."""
    sf = connector("salesforce", url)
    assert isinstance(sf, SalesforceConnector)
    session, instance_url = session_for(url)
    client = Salesforce(instance_url=instance_url, session_id="sandbox", session=session,
                        version=sf.config.api_version) if stock else sf.client  # fmt: skip
    fields = ", ".join(
        dict.fromkeys(
            [
                "Id",
                "SystemModstamp",
                "IsDeleted",
                *load_mapping(REPO / "mappings/salesforce.toml").read_fields(),
            ]
        )
    )
    started = time.perf_counter()
    count = sum(
        1
        for _ in client.query_all_iter(
            f"SELECT {fields} FROM Opportunity ORDER BY SystemModstamp, Id", include_deleted=True
        )
    )
    return count, time.perf_counter() - started


def bare_hubspot_read(url: str) -> tuple[int, float]:
    """Every deal through a stock client's ``basic_api.get_page`` (100 a page, companies
    associated), as the mirror's full read lists them, with the API object held across
    calls (the stock ``client.crm.deals.basic_api`` builds a new one, and a new connection,
    each time) and bodies decoded with orjson like the connector; nothing stored."""
    fields = load_mapping(REPO / "mappings/hubspot.toml").read_fields()
    props = list(dict.fromkeys([*(f for f in fields if "." not in f), "hs_lastmodifieddate"]))
    client = HubSpot(access_token="sandbox", host=url)
    api = client.crm.deals.basic_api
    count, after = 0, None
    started = time.perf_counter()
    while True:
        response = api.get_page(
            limit=100,
            after=after,
            properties=props,
            associations=["companies"],
            archived=False,
            _preload_content=False,
        )
        page = orjson.loads(response.data)
        count += len(page["results"])
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return count, time.perf_counter() - started


def postgres_database() -> str:
    name = f"ps_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name


def drop_postgres(name: str) -> None:
    admin = create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def child_peak_rss(crm: str, url: str, workdir: Path) -> float:
    """Max RSS (MiB) of a child process that mirrors everything ``url`` serves into SQLite."""
    store = f"sqlite:///{workdir / f'mem-{uuid.uuid4().hex[:6]}.db'}"
    out = subprocess.run(
        [sys.executable, __file__, "--child", crm, url, store],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.splitlines()[-1])["max_rss_mib"])


def own_peak_rss_mib() -> float:
    """This process's own peak RSS. Linux's ru_maxrss keeps the high-water mark of the
    process that forked it (here the benchmark itself, grown by its earlier runs), which
    VmHWM, the peak of this program's own memory map, does not."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kib) / 1024


def child(crm: str, url: str, store_url: str) -> None:
    configure_logging("warning")
    mirror(crm, url, store_url)
    print(json.dumps({"max_rss_mib": own_peak_rss_mib()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument(
        "--runs", type=int, default=3, help="report the fastest of this many runs of each"
    )
    parser.add_argument("--child", nargs=3, metavar=("CRM", "URL", "STORE"))
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    configure_logging("warning")
    n = args.records
    small = min(10_000, n)
    process, url, _ = start_sandbox(n)
    small_process, small_url, _ = start_sandbox(small)
    pg_names: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            print(f"N = {n:,} per CRM; each figure the fastest of {args.runs} interleaved runs")
            reads = {"salesforce": bare_read, "hubspot": bare_hubspot_read}
            bare: dict[str, float] = {}
            best: dict[tuple[str, str], dict[str, float]] = {}
            # (dialect, with the sync's handlers): SQLite with and without them, side by side.
            kinds = (("sqlite", True), ("sqlite", False), ("postgresql", True))
            for crm in reads:  # warm up (imports, statement caches) before anything is timed
                mirror(crm, small_url, f"sqlite:///{work / f'warm-{crm}.db'}")
            for run in range(args.runs):
                # Baseline and mirrors side by side in every run, so that a slow spell of
                # the machine weighs on both.
                for crm, read in reads.items():
                    count, seconds = read(url)
                    bare[crm] = min(bare.get(crm, math.inf), seconds)
                    # Each run starts with another kind: no kind always goes first.
                    for dialect, hooked in kinds[run % 3 :] + kinds[: run % 3]:
                        if dialect == "sqlite":
                            store = f"sqlite:///{work / f'{crm}-{uuid.uuid4().hex[:6]}.db'}"
                        else:
                            pg_names.append(postgres_database())
                            store = f"{POSTGRES}/{pg_names[-1]}"
                        r = mirror(crm, url, store, hooked=hooked)
                        label = dialect if hooked else f"{dialect}, no handlers"
                        kept = best.get((crm, label))
                        if kept is None or r["seconds"] < kept["seconds"]:
                            best[crm, label] = r
            for crm, label in (("salesforce", "query_all_iter"), ("hubspot", "basic_api.get_page")):
                print(
                    f"bare {crm} {label} read: {n:,} records in {bare[crm]:.2f} s "
                    f"= {n / bare[crm]:,.0f}/s (baseline)"
                )
            count, bare_seconds = bare_read(url, stock=False)
            print(
                f"  (the connector's own client, plain-dict decoding: {bare_seconds:.2f} s "
                f"= {count / bare_seconds:,.0f}/s)"
            )
            print(
                f"{'mirror':<36}{'records':>9}{'seconds':>9}{'rec/s':>9}{'vs bare':>9}"
                f"{'calls':>7}{'floor':>7}{'no-change calls':>17}{'its ms':>8}"
            )
            for (crm, dialect), r in best.items():
                floor = math.ceil(n / (2000 if crm == "salesforce" else 100))
                rate = r["records"] / r["seconds"]
                ratio = f"{rate / (n / bare[crm]):.2f}"
                print(
                    f"{crm + ' -> ' + dialect:<36}{r['records']:>9,.0f}{r['seconds']:>9.2f}"
                    f"{rate:>9,.0f}{ratio:>9}{r['calls']:>7,.0f}{floor:>7,}"
                    f"{r['incremental_calls']:>17,.0f}"
                    f"{r['incremental_seconds'] * 1000:>8,.0f}"
                )
            for crm in ("salesforce", "hubspot"):
                small_peak = child_peak_rss(crm, small_url, work)
                big_peak = child_peak_rss(crm, url, work)
                print(
                    f"peak RSS mirroring {crm}: {small:,} records {small_peak:,.0f} MiB, "
                    f"{n:,} records {big_peak:,.0f} MiB (ratio {big_peak / small_peak:.2f})"
                )
    finally:
        for proc in (process, small_process):
            proc.terminate()
            proc.wait(timeout=30)
        for name in pg_names:
            drop_postgres(name)


if __name__ == "__main__":
    main()
