"""Deal registration at scale: the check on submit, and registering deals as they are mirrored.

With N registrations (default 1,000,000: live and ended, on a quarter as many customers)
and N mirrored deals in the store, in SQLite and in PostgreSQL, prints:

- p50 / p95 / p99 of the check a submission makes (``RegistrationService.check``: every
  look-up, live claims, blocked accounts, open direct deals, fuzzy candidates, and the
  decision), exact (``fuzzy_threshold = 0``) and fuzzy (90, names without a domain that
  share words with existing registrations);
- the mirror of M new partner deals (default 100,000) from the sandbox, with the
  registration handler (``register_from_crm``) and without it, into copies of the same
  store, in the same run: records/s of each and their ratio; and the rate of the
  register_from_crm pass itself (the handler's own time within the pull), against the
  mirror's own rate (aim: at least half of it).

    .venv/bin/python bench/registration.py [--registrations 1000000] [--deals 100000]
        [--samples 2000] [--dialects sqlite,postgresql] [--repeat 2]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from simple_salesforce.api import Salesforce
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sandbox import start_sandbox
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.transport import session_for
from rules.matching import domain_key, name_key, name_tokens
from sync.deal_links import RegistrationLinks
from sync.log import configure_logging
from sync.mapping import load_mapping
from sync.mirror.handlers import MirrorHandler
from sync.mirror.pull import pull
from sync.partners import PartnerInput, add_partner
from sync.registrations import RegistrationService
from sync.settings import ProgramSettings
from sync.store import (
    Opportunity,
    Registration,
    RegistrationToken,
    make_engine,
    session_factory,
    upgrade,
)

REPO = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
SYLLABLES = tuple(
    [
        "ab",
        "ac",
        "ad",
        "al",
        "am",
        "an",
        "ar",
        "as",
        "at",
        "ba",
        "be",
        "bo",
        "ca",
        "ce",
        "co",
        "da",
        "de",
        "di",
        "do",
        "el",
        "en",
        "er",
        "fa",
        "fe",
        "fi",
        "fo",
        "ga",
        "ge",
        "go",
        "ha",
        "he",
        "hi",
        "ho",
        "in",
        "ka",
        "ke",
        "ki",
        "ko",
        "la",
        "le",
        "li",
        "lo",
        "lu",
        "ma",
        "me",
        "mi",
        "mo",
        "mu",
        "na",
        "ne",
        "ni",
        "no",
        "nu",
        "or",
        "pa",
        "pe",
        "pi",
        "po",
        "ra",
        "re",
        "ri",
        "ro",
        "ru",
        "sa",
        "se",
        "si",
        "so",
        "su",
        "ta",
        "te",
        "ti",
        "to",
        "tu",
        "va",
        "ve",
        "vi",
        "vo",
        "za",
        "ze",
        "zi",
        "zo",
    ]
)
FORMS = ("", "", " Inc", " Ltd", " GmbH", " SA", " LLC", " plc")
TLDS = ("com", "com", "co.uk", "de", "fr", "io", "com.au", "nl")
ENDED = ("expired", "rejected", "won", "lost")
LIVE_STATES = frozenset(("approved", "pending", "conflict"))


def words(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct made-up words of two or three syllables."""
    found: set[str] = set()
    while len(found) < count:
        found.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3, 3)))))
    return sorted(found)


def customers(rng: random.Random, count: int) -> list[tuple[str, str | None]]:
    """(name, website) of ``count`` customers; one in ten has no website."""
    vocabulary = words(rng, 4_000)
    out = []
    seen: set[str] = set()
    while len(out) < count:
        first, second = rng.choice(vocabulary), rng.choice(vocabulary)
        key = f"{first} {second}"
        if key in seen:
            continue
        seen.add(key)
        name = f"{first.title()} {second.title()}{rng.choice(FORMS)}"
        site = None if rng.random() < 0.1 else f"www.{first}{second}.{rng.choice(TLDS)}"
        out.append((name, site))
    return out


def chunks(rows: Iterator[dict[str, Any]], size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def load(url: str, n: int, partners: dict[str, str], seed: int = 7) -> list[tuple[str, str | None]]:
    """N registrations (with their name words) and N mirrored deals on N/4 customers."""
    rng = random.Random(seed)
    people = customers(rng, max(n // 4, 10))
    keyed = [(name, site, name_key(name), domain_key(site)) for name, site in people]
    engine = make_engine(url)
    program = ProgramSettings()
    factory = session_factory(engine)
    for key, account in partners.items():
        tier = rng.choice(("registered", "silver", "gold"))
        given = PartnerInput(key, key.title(), tier, salesforce_account_id=account)
        add_partner(factory, given, program, actor="bench")
    keys = list(partners)

    def registrations() -> Iterator[dict[str, Any]]:
        approved: set[str] = set()
        for number in range(1, n + 1):
            name, site, nk, dk = keyed[rng.randrange(len(keyed))]
            customer_key = dk or f"name:{nk}"
            roll = rng.random()
            status, until = rng.choice(ENDED), date(2026, 6, 1)
            if roll < 0.08 and customer_key not in approved:
                status, until = "approved", date(2027, 3, 1)
                approved.add(customer_key)
            elif roll < 0.12:
                status, until = "pending", None
            elif roll < 0.14:
                status, until = "conflict", None
            yield {
                "id": number, "partner_id": rng.choice(keys), "customer_name": name,
                "customer_domain": site, "customer_name_key": nk, "customer_domain_key": dk,
                "customer_key": customer_key, "amount": Decimal(rng.randrange(1, 500) * 100),
                "currency": "USD", "status": status, "protected_until": until,
                "extensions_used": 0, "source": "cli", "submitted_at": NOW - timedelta(days=400),
                "updated_at": NOW,
            }  # fmt: skip

    def opportunities() -> Iterator[dict[str, Any]]:
        for number in range(1, n + 1):
            name, site, nk, dk = keyed[rng.randrange(len(keyed))]
            partner = rng.choice(keys) if rng.random() < 0.3 else None
            closed = rng.random() < 0.6
            yield {
                "crm": "salesforce", "crm_id": f"006BENCH{number:010d}", "name": f"{name} deal",
                "account_name": name, "account_domain": site, "customer_name_key": nk,
                "customer_domain_key": dk, "partner_ref": partner, "partner_id": partner,
                "is_closed": closed, "is_won": closed and rng.random() < 0.5,
                "crm_modified_at": NOW - timedelta(days=300), "deleted": False,
                "crm_values": {}, "first_seen_at": NOW, "updated_at": NOW,
            }  # fmt: skip

    with engine.begin() as connection:
        for batch in chunks(registrations()):
            connection.execute(insert(Registration), batch)
            tokens = [
                {
                    "token": word,
                    "registration_id": row["id"],
                    "domainless": not row["customer_domain_key"],
                }
                for row in batch
                if row["status"] in LIVE_STATES  # the fuzzy index holds live claims only
                for word in name_tokens(row["customer_name_key"])
            ]
            connection.execute(insert(RegistrationToken), tokens)
        for batch in chunks(opportunities()):
            connection.execute(insert(Opportunity), batch)
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT setval(pg_get_serial_sequence('registrations', 'id'), "
                                    "(SELECT max(id) FROM registrations))"))  # fmt: skip
            connection.execute(text("ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
    engine.dispose()
    return people


def percentiles(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=100)
    return f"p50 {cuts[49]:.2f} ms, p95 {cuts[94]:.2f} ms, p99 {cuts[98]:.2f} ms"


def timed(calls: list[Callable[[], Any]]) -> list[float]:
    out = []
    for call in calls:
        started = time.perf_counter()
        call()
        out.append((time.perf_counter() - started) * 1000)
    return out


def checks(
    url: str, people: list[tuple[str, str | None]], partners: list[str], samples: int
) -> None:
    rng = random.Random(11)
    engine = make_engine(url)
    factory = session_factory(engine)
    exact = RegistrationService(factory, ProgramSettings(fuzzy_threshold=0), clock=lambda: NOW)
    fuzzy = RegistrationService(factory, ProgramSettings(fuzzy_threshold=90), clock=lambda: NOW)
    picks = [rng.choice(people) for _ in range(samples)]
    exact_calls = [
        (lambda name=name, site=site: exact.check(
            partner_id=rng.choice(partners), customer_name=name, customer_domain=site))
        for name, site in picks
    ]  # fmt: skip
    fuzzy_calls = [
        (lambda name=name: fuzzy.check(partner_id=rng.choice(partners),
                                       customer_name=name[:-1] + "x"))  # a typo, no domain
        for name, _ in picks
    ]  # fmt: skip
    timed(exact_calls[:50] + fuzzy_calls[:50])  # warm the caches
    print(f"  check on submit, exact: {percentiles(timed(exact_calls))}")
    print(f"  check on submit, fuzzy: {percentiles(timed(fuzzy_calls))}")
    engine.dispose()


def drop_copies(work: Path, pg_names: list[str], url: str) -> None:
    """Remove the copies of the store at ``url`` (each as large as the store itself)."""
    for copy in work.glob("copy-*.db*"):
        copy.unlink()
    store = url.rsplit("/", 1)[1]
    copies = [name for name in pg_names if name != store and name.startswith("ps_bench_")]
    if not copies:
        return
    drop_databases(copies)
    for name in copies:
        pg_names.remove(name)


def copy_store(url: str, dialect: str, work: Path, pg_names: list[str]) -> str:
    if dialect == "sqlite":
        source = Path(url.removeprefix("sqlite:///"))
        target = work / f"copy-{uuid.uuid4().hex[:6]}.db"
        shutil.copyfile(source, target)
        return f"sqlite:///{target}"
    return new_database(pg_names, template=url.rsplit("/", 1)[1])


def new_database(pg_names: list[str], template: str | None = None) -> str:
    """A new PostgreSQL database (a copy of ``template`` when given), its name kept in
    ``pg_names`` for :func:`drop_databases`; its URL."""
    name = f"ps_bench_{uuid.uuid4().hex[:8]}"
    copied = f' TEMPLATE "{template}"' if template else ""
    admin = create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{copied}'))
    admin.dispose()
    pg_names.append(name)
    return f"{POSTGRES}/{name}"


def drop_databases(pg_names: list[str]) -> None:
    admin = create_engine(f"{POSTGRES}/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in pg_names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class Timed:
    """A mirror handler, timed: the seconds it took over the whole pull."""

    def __init__(self, handler: MirrorHandler) -> None:
        self.handler = handler
        self.name = handler.name
        self.before = handler.before
        self.seconds = 0.0

    def __call__(self, session: Any, changes: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.handler(session, changes)
        finally:
            self.seconds += time.perf_counter() - started


def timed_pull(
    url: str, sandbox_url: str, handler: MirrorHandler | None
) -> tuple[float, float, int, dict[str, int]]:
    """A pull of the sandbox's Salesforce opportunities into ``url``, with ``handler`` or
    none: (seconds of the pull, seconds of the handler in it, records, counts)."""
    factory = session_factory(make_engine(url))
    mapping = load_mapping(REPO / "mappings" / "salesforce.toml")
    connector = SalesforceConnector(
        SalesforceConfig(instance_url=sandbox_url, session_id="sandbox")
    )
    handlers = [Timed(handler)] if handler is not None else []
    started = time.perf_counter()
    report = pull(factory, connector, mapping, handlers=handlers)
    spent = handlers[0].seconds if handlers else 0.0
    return time.perf_counter() - started, spent, report.upserted, dict(report.handled)


def mirror(url: str, sandbox_url: str, hooked: bool) -> tuple[float, float, int, dict[str, int]]:
    """:func:`timed_pull` without handlers, or with the registration handler."""
    program = ProgramSettings(register_from_crm=True)
    return timed_pull(
        url, sandbox_url, RegistrationLinks(program, clock=lambda: NOW) if hooked else None
    )


def partner_accounts(sandbox_url: str) -> dict[str, str]:
    session, instance = session_for(sandbox_url)
    sf = Salesforce(instance_url=instance, session_id="sandbox", session=session, version="59.0")
    found = sf.query("SELECT Id, Name FROM Account WHERE Type = 'Partner'")["records"]
    return {r["Name"].split()[0].upper(): r["Id"] for r in found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--dialects", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=2, help="mirror runs of each kind")
    args = parser.parse_args()
    configure_logging("warning")
    process, sandbox_url, _ = start_sandbox(args.deals)
    pg_names: list[str] = []
    try:
        partners = partner_accounts(sandbox_url)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for dialect in args.dialects.split(","):
                if dialect == "sqlite":
                    url = f"sqlite:///{work / 'base.db'}"
                else:
                    url = new_database(pg_names)
                upgrade(url)
                started = time.perf_counter()
                people = load(url, args.registrations, partners)
                if dialect == "postgresql":
                    # As autovacuum would, before anyone checks: the checks measure the
                    # store's steady state, not a race with its first analysis.
                    analyze = create_engine(url, isolation_level="AUTOCOMMIT")
                    with analyze.connect() as connection:
                        connection.execute(text("VACUUM ANALYZE"))
                    analyze.dispose()
                loaded = time.perf_counter() - started
                n = args.registrations
                print(
                    f"{dialect}: {n:,} registrations and mirrored deals, loaded in {loaded:.0f} s"
                )
                checks(url, people, list(partners), args.samples)
                # Interleaved and repeated, each on a fresh copy of the store: this
                # machine's speed drifts over minutes, so the best run of each is compared.
                plain_runs, hooked_runs = [], []
                for _ in range(args.repeat):
                    plain_runs.append(
                        mirror(copy_store(url, dialect, work, pg_names), sandbox_url, hooked=False)
                    )
                    drop_copies(work, pg_names, url)
                    hooked_runs.append(
                        mirror(copy_store(url, dialect, work, pg_names), sandbox_url, hooked=True)
                    )
                    drop_copies(work, pg_names, url)
                plain_s, _, plain_n, _ = min(plain_runs, key=lambda run: run[0])
                hooked_s, _, hooked_n, counts = min(hooked_runs, key=lambda run: run[0])
                pass_s = min(run[1] for run in hooked_runs)
                registered = sum(v for k, v in counts.items() if k.startswith("registered_"))
                closed = counts.get("closed", 0)
                print(
                    f"  (best of {args.repeat} runs each, interleaved: "
                    f"plain {', '.join(f'{r[0]:.2f}' for r in plain_runs)} s; "
                    f"with the handler {', '.join(f'{r[0]:.2f}' for r in hooked_runs)} s, "
                    f"its pass {', '.join(f'{r[1]:.2f}' for r in hooked_runs)} s)"
                )
                print(f"  mirror of {plain_n:,} deals without handlers: {plain_s:.2f} s = "
                      f"{plain_n / plain_s:,.0f}/s")  # fmt: skip
                print(
                    f"  with registrations from the CRM: {hooked_s:.2f} s = "
                    f"{hooked_n / hooked_s:,.0f}/s ({registered:,} registered, {closed:,} "
                    f"closed): {plain_s / hooked_s:.2f} of the plain mirror's rate"
                )
                print(
                    f"  the register_from_crm pass itself (the handler's time in that pull): "
                    f"{pass_s:.2f} s = {hooked_n / pass_s:,.0f} deals/s: "
                    f"{plain_s / pass_s:.2f} of the mirror's own rate (aim: at least 0.5)"
                )
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop_databases(pg_names)


if __name__ == "__main__":
    main()
