"""The daemon end to end, the way it runs on many machines: ``partnersync scheduler`` and
two ``dramatiq worker`` processes sharing a real Redis and PostgreSQL, against the
sandbox's two CRMs (10,000 deals in all), converging to what a clean inline run gives.

Chaos: a worker is killed with SIGKILL at random moments, ten times, and restarted (as an
orchestrator would), and Redis is flushed once. Nothing is lost (the store equals the
CRM; every registration, ledger row and payout is the clean run's) and nothing is counted
twice. ``PARTNERSYNC_TEST_DAEMON_DEALS`` sets the deals per CRM (default 5,000: three
Salesforce query pages, fifty HubSpot pages).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sandbox import PARTNERS, Api, Sandbox, SandboxServer, seed_sandbox
from sync.commissions import CommissionService
from sync.crm import CrmLink
from sync.cycle import Cycle
from sync.partners import PartnerInput, add_partner
from sync.settings import Settings
from sync.status import facts
from sync.store import (
    LedgerEntry,
    Opportunity,
    Payout,
    Registration,
    make_engine,
    session_factory,
    upgrade,
)
from tests.conftest import REDIS_URL, NewDatabase
from tests.sync.links import LINKS

REPO = Path(__file__).resolve().parents[2]
DEALS = int(os.environ.get("PARTNERSYNC_TEST_DAEMON_DEALS", "5000"))
AGREEMENT = REPO / "examples" / "acme-agreement.toml"
OBJECT = {"salesforce": "Opportunity", "hubspot": "deals"}


def program(box: Sandbox, factory: sessionmaker[Session]) -> None:
    """The sandbox's partners, with their CRM accounts, each on the example agreement."""
    text = AGREEMENT.read_text(encoding="utf-8")
    service = CommissionService(factory)
    for partner in PARTNERS:
        accounts = {crm: box.partner_account(cast(Api, crm), partner.name) for crm in OBJECT}
        add_partner(factory, PartnerInput(partner.key, partner.name, partner.tier,
                                          accounts["salesforce"], accounts["hubspot"]),
                    Settings().program, actor="test")  # fmt: skip
        own = text.replace('partner = "ACME"', f'partner = "{partner.key}"', 1)
        service.import_text(own, f"{AGREEMENT.name} ({partner.key})", actor="test")


def world(url: str) -> tuple[Sandbox, sessionmaker[Session]]:
    box = Sandbox()
    seed_sandbox(box, DEALS)
    upgrade(url)
    factory = session_factory(make_engine(url))
    program(box, factory)
    return box, factory


def links(server: SandboxServer) -> list[CrmLink]:
    return [CrmLink(LINKS[crm][0](server), LINKS[crm][1]) for crm in OBJECT]


def snapshot(factory: sessionmaker[Session]) -> dict[str, Counter[tuple[Any, ...]]]:
    """What must come out the same: each deal's registration, ledger rows and payouts."""
    with factory() as session:
        deal = {o.id: (o.crm.value, o.crm_id) for o in session.scalars(select(Opportunity))}
        return {
            # Which of two claims on one customer came first depends on which CRM was
            # pulled first (the workers pull both at once): each deal's registration is
            # compared, not its status.
            "registrations": Counter(
                (*deal.get(r.opportunity_id or 0, ("", "")), r.partner_id)
                for r in session.scalars(select(Registration))
            ),
            "ledger": Counter(
                (*deal[e.opportunity_id], e.kind.value, e.flow.value, e.amount, e.currency)
                for e in session.scalars(select(LedgerEntry))
            ),
            "payouts": Counter(
                (*deal.get(p.opportunity_id or 0, ("", "")), p.status.value, p.amount, p.currency)
                for p in session.scalars(select(Payout))
            ),
        }  # fmt: skip


def crm_equals_store(box: Sandbox, factory: sessionmaker[Session]) -> None:
    """Every live CRM deal is mirrored with its amount; nothing else is live in the store."""
    with factory() as session:
        stored = {
            (o.crm.value, o.crm_id): o.amount
            for o in session.scalars(select(Opportunity).where(Opportunity.deleted.is_(False)))
        }
    field = {"salesforce": "Amount", "hubspot": "amount"}
    held = {}
    for crm, obj in OBJECT.items():
        for record in box.record_ids(cast(Api, crm), obj):
            value = box.value(cast(Api, crm), obj, record, field[crm])
            held[(crm, record)] = Decimal(str(value)) if value not in (None, "") else None
    assert held.keys() == stored.keys()
    differing = [k for k in held if held[k] != stored[k]]
    assert not differing, differing[:5]


def settled(factory: sessionmaker[Session], since: float) -> bool:
    return facts(factory).settled(OBJECT, datetime.fromtimestamp(since, UTC))


def wait(check: Callable[[], bool], seconds: float, why: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, why
        time.sleep(0.5)


class Processes:
    """The scheduler and two workers, as separate process groups (so a kill takes a
    worker's children with it, as a container's end would)."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.scheduler = self.start([sys.executable, "-c", "from sync.cli import main; main()",
                                     "scheduler"], "scheduler")  # fmt: skip
        self.workers = [self.start(self.worker_command(), f"worker-{i}") for i in range(2)]
        self.kills = 0

    @staticmethod
    def worker_command() -> list[str]:
        return [sys.executable, "-m", "dramatiq", "worker", "--processes", "1",
                "--threads", "4"]  # fmt: skip

    def start(self, command: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        return subprocess.Popen(command, cwd=REPO, env=self.env, stdout=log, stderr=log,
                                start_new_session=True)  # fmt: skip

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.workers))
        os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait(10)
        self.kills += 1
        self.workers[index] = self.start(self.worker_command(), f"worker-{index}")

    def stop(self) -> None:
        for process in [self.scheduler, *self.workers]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [self.scheduler, *self.workers]:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_workers_and_a_scheduler_converge_through_kills_and_a_flushed_queue(
    tmp_path: Path, new_database: NewDatabase
) -> None:
    # The clean run: the same seeded CRMs, synced inline until nothing changes.
    clean_box, clean = world(new_database("postgres"))
    with SandboxServer(clean_box) as server:
        cycle = Cycle(Settings(), clean, configured=links(server))
        for _ in range(3):
            cycle.run()
    expected = snapshot(clean)
    assert sum(expected["ledger"].values()) > 0  # won deals of partners accrued

    url = new_database("postgres")
    box, factory = world(url)
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    rng = random.Random(13)
    with SandboxServer(box) as server:
        (tmp_path / "settings.toml").write_text(
            f'[store]\nurl = "{url}"\n[queue]\nbroker = "{REDIS_URL}"\nlease_seconds = 4\n'
            f'[salesforce]\ninstance_url = "{server.url}"\n'
            f'mapping = "{REPO / "mappings" / "salesforce.toml"}"\nconcurrent_requests = 1000\n'
            f'[hubspot]\nbase_url = "{server.url}"\nmapping = "{REPO / "mappings" / "hubspot.toml"}"\n'
            "burst_per_10s = 1000\n"  # the sandbox here has no rate limit: not this test's subject
            "[sync]\ninterval_seconds = 3\n",
            encoding="utf-8",
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
        env.update(PARTNERSYNC_SETTINGS=str(tmp_path / "settings.toml"), PYTHONPATH=str(REPO))
        started = time.time()
        processes = Processes(tmp_path, env)
        try:
            for kill in range(10):
                time.sleep(rng.uniform(0.5, 3.0))
                processes.kill_one(rng)
                if kill == 4:
                    client.flushdb()  # every queued trigger lost
            wait(lambda: settled(factory, started), 300, "the daemon did not converge")
            # Settled once: wait for one more full pull and push of each CRM after it.
            again = time.time()
            wait(lambda: settled(factory, again), 120, "the daemon did not settle again")
        finally:
            processes.stop()
            client.flushdb()
        assert processes.kills == 10
        crm_equals_store(box, factory)
        got = snapshot(factory)
        for kind in ("registrations", "ledger", "payouts"):
            assert got[kind] == expected[kind], (kind, (got[kind] - expected[kind]).most_common(3),
                                                 (expected[kind] - got[kind]).most_common(3))  # fmt: skip
        # What partnersync wants the CRM to show, it shows: a push now has nothing to send.
        final = Cycle(Settings(), factory, configured=links(server))
        assert [final.push(link).sent for link in final] == [0, 0]
