"""Commissions: accrual on the pull, replay, and the named reports, on SQLite and PostgreSQL.

For each store it prints:

- the mirror of the sandbox's ``--records`` Salesforce opportunities without handlers,
  and with the accrual handler (``sync.ledger.CommissionAccruals``): the handler's own
  time over the pull, as deals/s and as a share of the mirror's rate (aim: at least 0.5,
  so turning commissions on never halves a sync);
- on a store holding ``--deals`` closed-won partner deals (loaded in bulk: the sandbox
  seeds a quarter of its deals won), the first ``commissions replay`` (it accrues every
  deal) and the second (it must write 0 rows), as deals/s, each with the replay's
  default workers (two chunks at once on PostgreSQL, one on SQLite);
- each named report over those deals, best of three (aim: under a second each).

    python bench/commissions.py [--records 100000] [--deals 100000] [--dialects sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.registration import (
    chunks,
    drop_databases,
    new_database,
    partner_accounts,
    timed_pull,
)
from bench.sandbox import start_sandbox
from sync.commissions import CommissionService
from sync.ledger import CommissionAccruals
from sync.log import configure_logging
from sync.partners import PartnerInput, add_partner
from sync.reports import REPORTS, run_report
from sync.settings import ProgramSettings
from sync.store import CoSellDirection, Opportunity, make_engine, session_factory, upgrade

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
#: Every direction and practice has a rule, in force since long before the seeded deals.
AGREEMENT = """
partner = "{partner}"
name = "bench agreement"
effective_from = 2000-01-01

[[rules]]
practice = "*"
direction = "partner_sourced_direct_sold"
basis = "amount"
percent = "10"
floor = "100"
ceiling = "5000"
flow = "payable"
trigger = "closed_won"
payout_delay_days = 30

[[rules]]
practice = "Cloud"
direction = "partner_sourced_partner_sold"
basis = "margin"
percent = "12.5"
flow = "payable"
trigger = "closed_won"

[[rules]]
practice = "*"
direction = "partner_sourced_partner_sold"
basis = "amount"
percent = "8"
flow = "payable"
trigger = "closed_won"

[[rules]]
practice = "*"
direction = "direct_sourced_partner_sold"
basis = "amount"
percent = "5"
flow = "receivable"
trigger = "closed_won"
"""


def new_store(dialect: str, work: Path, names: list[str]) -> str:
    if dialect == "sqlite":
        url = f"sqlite:///{work / f'{uuid.uuid4().hex[:8]}.db'}"
    else:
        url = new_database(names)
    upgrade(url)
    return url


def with_agreements(url: str, partners: dict[str, str]) -> CommissionService:
    factory = session_factory(make_engine(url))
    program = ProgramSettings()
    service = CommissionService(factory, clock=lambda: NOW)
    for key, account in partners.items():
        add_partner(factory, PartnerInput(key, key.title(), "gold", salesforce_account_id=account),
                    program, actor="bench")  # fmt: skip
        service.import_text(AGREEMENT.format(partner=key), f"bench-{key}.toml", actor="bench")
    return service


def won_deals(url: str, n: int, partners: list[str], seed: int = 3) -> None:
    """``n`` closed-won partner deals of 2026, in several currencies, loaded in bulk."""
    rng = random.Random(seed)
    directions = list(CoSellDirection)
    currencies = ["USD"] * 6 + ["EUR", "EUR", "GBP", "JPY"]

    def rows() -> Iterator[dict[str, Any]]:
        for number in range(1, n + 1):
            amount = Decimal(rng.randrange(1_000, 20_000_000)) / 100
            yield {
                "crm": "salesforce", "crm_id": f"006WON{number:012d}", "name": f"deal {number}",
                "amount": amount, "cost": (amount * Decimal("0.6")).quantize(Decimal("0.01")),
                "currency": rng.choice(currencies), "is_closed": True, "is_won": True,
                "close_date": date(2026, 1, 1) + timedelta(days=rng.randrange(330)),
                "practice": rng.choice(["Cloud", "Data", "Security"]),
                "direction": rng.choice(directions), "partner_ref": None,
                "partner_id": rng.choice(partners), "crm_modified_at": NOW, "deleted": False,
                "crm_values": {}, "first_seen_at": NOW, "updated_at": NOW,
            }  # fmt: skip

    engine = make_engine(url)
    with engine.begin() as connection:
        for batch in chunks(rows()):
            connection.execute(insert(Opportunity), batch)
        connection.execute(text("ANALYZE"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="sandbox opportunities")
    parser.add_argument("--deals", type=int, default=100_000, help="closed-won deals replayed")
    parser.add_argument("--dialects", default="sqlite,postgresql")
    args = parser.parse_args()
    configure_logging("warning")
    process, sandbox_url, _ = start_sandbox(args.records)
    names: list[str] = []
    try:
        partners = partner_accounts(sandbox_url)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for dialect in args.dialects.split(","):
                print(f"{dialect}:")
                plain = new_store(dialect, work, names)
                with_agreements(plain, partners)
                plain_s, _, plain_n, _ = timed_pull(plain, sandbox_url, None)
                hooked = new_store(dialect, work, names)
                with_agreements(hooked, partners)
                hooked_s, pass_s, hooked_n, counts = timed_pull(
                    hooked, sandbox_url, CommissionAccruals()
                )
                accrued = counts.get("ledger_accrual", 0)
                print(f"  mirror of {plain_n:,} opportunities without handlers: {plain_s:.2f} s "
                      f"= {plain_n / plain_s:,.0f}/s")  # fmt: skip
                print(
                    f"  with accruals: {hooked_s:.2f} s ({accrued:,} deals accrued); the "
                    f"handler itself {pass_s:.2f} s = {hooked_n / pass_s:,.0f} deals/s: "
                    f"{plain_s / pass_s:.2f} of the mirror's own rate (aim: at least 0.5)"
                )
                store = new_store(dialect, work, names)
                service = with_agreements(store, partners)
                won_deals(store, args.deals, list(partners))
                for run in ("first", "second"):
                    started = time.perf_counter()
                    result = service.replay(actor="bench")
                    spent = time.perf_counter() - started
                    print(
                        f"  {run} replay of {result['deals']:,} closed-won deals: {spent:.2f} s "
                        f"= {result['deals'] / spent:,.0f} deals/s, {result['rows_written']:,} "
                        f"ledger rows and {result.get('payouts', 0):,} payouts written"
                        + (" (aim: 0)" if run == "second" else "")
                    )
                factory = session_factory(make_engine(store))
                for name in REPORTS:
                    times = []
                    for _ in range(3):
                        started = time.perf_counter()
                        found = run_report(factory, name, year=2026, today=date(2026, 12, 1))
                        times.append(time.perf_counter() - started)
                    print(f"  report {name}: {len(found):,} rows in {min(times):.3f} s "
                          f"(best of 3; aim: under 1 s)")  # fmt: skip
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop_databases(names)


if __name__ == "__main__":
    main()
