"""The daemon: how fast a CRM change comes back written, and how the first cycle scales
with worker processes. Everything runs as a user runs it: ``partnersync sandbox`` (a
process of its own, ``--latency-ms`` on every call), ``partnersync sync``, ``partnersync
run``, ``dramatiq worker`` processes on Redis, PostgreSQL stores.

1. **Reaction** (``--latency-ms 100``): a deal a partner names is changed in the CRM; how
   long until the CRM shows its registration written back, with the sandbox's webhooks
   sent to ``partnersync run`` (aim: under 2 s), and with polling only (``[sync]
   interval_seconds``).
2. **Throughput**: the first cycle of ``--deals`` deals per CRM (pull both CRMs with
   registrations and accruals, push what they stage), inline by ``partnersync sync``, then
   by 1, 2 and 4 ``dramatiq worker`` processes of one thread each (aim: 2 workers at least
   1.5x one), and one process of 4 threads for comparison.

    .venv/bin/python bench/daemon.py [--deals 10000] [--latency-ms 100] [--skip-reaction]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import httpx
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.registration import drop_databases, new_database
from sandbox import PARTNERS, Api, Sandbox, seed_sandbox
from sync.actors import declare, make_broker
from sync.commissions import CommissionService
from sync.daemon import Daemon
from sync.partners import PartnerInput, add_partner
from sync.settings import Settings, load_settings
from sync.status import facts
from sync.store import make_engine, session_factory, upgrade

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("PARTNERSYNC_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
AGREEMENT = REPO / "examples" / "acme-agreement.toml"
CRMS = ("salesforce", "hubspot")
#: crm -> partner key -> the partner's account / company id there
Accounts = dict[str, dict[str, str]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sync.cli import main; main()", *args]


class Stage:
    """A fresh sandbox process, a fresh store with the program, a settings file."""

    def __init__(self, args: argparse.Namespace, names: list[str], accounts: Accounts,
                 **settings: str) -> None:  # fmt: skip
        self.folder = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
        self.env.update(
            PARTNERSYNC_SETTINGS=str(self.folder / "settings.toml"), PYTHONPATH=str(REPO)
        )
        self.sandbox = subprocess.Popen(
            cli("sandbox", "--port", str(self.port), "--seed", str(args.deals), "--latency-ms",
                str(args.latency_ms), *_extra(settings.pop("sandbox", ""))),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            env=self.env, cwd=self.folder,
        )  # fmt: skip
        self.store = new_database(names)
        upgrade(self.store)
        factory = session_factory(make_engine(self.store))
        service = CommissionService(factory)
        text = AGREEMENT.read_text(encoding="utf-8")
        for partner in PARTNERS:
            add_partner(factory, PartnerInput(partner.key, partner.name, partner.tier,
                                              accounts["salesforce"][partner.key],
                                              accounts["hubspot"][partner.key]),
                        Settings().program, actor="bench")  # fmt: skip
            own = text.replace('partner = "ACME"', f'partner = "{partner.key}"', 1)
            service.import_text(own, f"{AGREEMENT.name} ({partner.key})", actor="bench")
        self.factory = factory
        sections: dict[str, list[str]] = {
            "store": [f'url = "{self.store}"'],
            "queue": [f'broker = "{REDIS_URL}"'],
            "salesforce": [f'instance_url = "{self.url}"',
                           f'mapping = "{REPO / "mappings" / "salesforce.toml"}"'],
            # The sandbox serves without a rate limit: the gate's burst is not the subject.
            "hubspot": [f'base_url = "{self.url}"', "burst_per_10s = 10000",
                        f'mapping = "{REPO / "mappings" / "hubspot.toml"}"'],
            "sync": [],
        }  # fmt: skip
        for key, value in settings.items():
            section, _, name = key.partition("__")
            kept = [line for line in sections.get(section, []) if not line.startswith(f"{name} =")]
            sections[section] = [*kept, f"{name} = {value}"]
        text = "".join(f"[{name}]\n" + "".join(f"{line}\n" for line in lines)
                       for name, lines in sections.items())  # fmt: skip
        (self.folder / "settings.toml").write_text(text, encoding="utf-8")
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/_sandbox/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.2)

    def settings(self) -> Settings:
        return load_settings(self.folder / "settings.toml")

    def close(self) -> None:
        os.killpg(self.sandbox.pid, signal.SIGTERM)
        self.sandbox.wait(30)


def _extra(spec: str) -> list[str]:
    return spec.split() if spec else []


def settled(factory: Any, since: float) -> bool:
    """Both CRMs pulled after ``since`` and pushed after that, nothing pending or held."""
    return facts(factory).settled(CRMS, datetime.fromtimestamp(since, UTC), idle=True)


def wait(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.05)


def throughput(
    args: argparse.Namespace, names: list[str], accounts: dict[str, dict[str, str]]
) -> None:
    """The first cycle inline, then by 1, 2 and 4 single-thread worker processes."""
    print(f"first cycle of {args.deals:,} deals per CRM ({2 * args.deals:,} in all), "
          f"sandbox at {args.latency_ms:g} ms a call, PostgreSQL store, workers with "
          f"push_shards = {args.push_shards}:")  # fmt: skip
    stage = Stage(args, names, accounts)
    try:
        began = time.perf_counter()
        done = subprocess.run(cli("sync", "--format", "json"), env=stage.env,
                              capture_output=True, text=True, cwd=stage.folder)  # fmt: skip
        wall = time.perf_counter() - began
        if done.returncode:
            raise RuntimeError(done.stderr)
        reports = json.loads(done.stdout)
        # The cycle's own time, as its reports give it (the command's start-up apart).
        inline = sum(r["seconds"] for part in ("pull", "push") for r in reports[part])
    finally:
        stage.close()
    print(f"  partnersync sync (inline):          {inline:6.1f} s  {2 * args.deals / inline:7.0f} "
          f"deals/s  ({wall:.1f} s with the command's start)")  # fmt: skip
    one = None
    for processes, threads in ((1, 1), (2, 1), (4, 1), (1, 4)):
        seconds = by_workers(args, names, accounts, processes, threads)
        one = one or seconds
        label = f"{processes} worker process(es) x {threads} thread(s)"
        print(f"  {label + ':':35} {seconds:6.1f} s  {2 * args.deals / seconds:7.0f} deals/s  "
              f"{one / seconds:4.2f}x one process, {inline / seconds:4.2f}x inline")  # fmt: skip


def by_workers(args: argparse.Namespace, names: list[str], accounts: Accounts,
               processes: int, threads: int) -> float:  # fmt: skip
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    stage = Stage(args, names, accounts, queue__push_shards=str(args.push_shards))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        settings = stage.settings()
        holder: dict[str, Daemon] = {}
        actors = declare(make_broker(settings), lambda: holder["daemon"])
        holder["daemon"] = daemon = Daemon(settings, stage.factory, send=actors.send)
        for _ in range(processes):
            # One message per thread (dramatiq prefetches two a thread unless told).
            env = {**stage.env, "dramatiq_queue_prefetch": str(threads)}
            workers.append(subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "worker", "--processes", "1", "--threads",
                 str(threads)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True))  # fmt: skip
        time.sleep(3)  # the workers' imports
        began = time.perf_counter()
        since = time.time()
        for crm in CRMS:
            daemon.trigger("pull", crm)
        wait(lambda: settled(stage.factory, since), 900)
        return time.perf_counter() - began
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        stage.close()
        client.flushdb()


def reaction(args: argparse.Namespace, names: list[str], accounts: Accounts) -> None:
    """A won partner deal's amount changed in HubSpot: seconds until the CRM shows the new
    commission, with webhooks (a pull at once) and with polling only."""
    print(f"reaction: a won HubSpot deal's amount changed, until the CRM shows its new "
          f"commission (sandbox at {args.latency_ms:g} ms a call, {args.deals:,} deals per "
          f"CRM, partnersync run embedded on PostgreSQL):")  # fmt: skip
    for label, webhooks, interval, lag in (
        ("webhooks", True, 3600, 0),
        (f"polling every {args.poll_seconds} s", False, args.poll_seconds, 0),
        ("webhooks, search index 3 s behind", True, 3600, 3),
    ):
        key = label.split(",")[0].split()[0] + ("-lag" if lag else "")
        first, *seconds = _react(args, names, accounts, label=key, webhooks=webhooks,
                                 interval=interval, lag=lag)  # fmt: skip
        cuts = sorted(seconds)
        print(f"  {label + ':':38} median {cuts[len(cuts) // 2]:5.2f} s, worst {cuts[-1]:5.2f} s "
              f"({len(cuts)} changes; the first after the first cycle {first:.2f} s)")  # fmt: skip


def _react(args: argparse.Namespace, names: list[str], accounts: Accounts, *, label: str,
           webhooks: bool, interval: int, lag: int) -> list[float]:  # fmt: skip
    from sqlalchemy import select

    from sync.mapping import load_mapping
    from sync.store import CoSellDirection, LedgerEntry, Opportunity

    port = free_port()
    hook = f"--hubspot-webhook-url http://127.0.0.1:{port}/v1/webhooks/hubspot " if webhooks else ""
    stage = Stage(args, names, accounts, sandbox=f"{hook}--search-lag-seconds {lag}",
                  queue__broker='"memory"', sync__interval_seconds=str(interval),
                  hubspot__client_secret='"sandbox"', api__port=str(port))  # fmt: skip
    logs = open(os.devnull if args.logs is None else args.logs / f"run-{label}.log", "wb")  # noqa: SIM115
    daemon = subprocess.Popen(cli("run"), env=stage.env, cwd=stage.folder, stdout=logs,
                              stderr=logs, start_new_session=True)  # fmt: skip
    field = load_mapping(REPO / "mappings" / "hubspot.toml").outbound_for("commission.accrued")
    assert field is not None
    out: list[float] = []
    try:
        since = time.time()
        wait(lambda: settled(stage.factory, since), 600)
        # Steady state: the first cycle's own write-backs fall out of the incremental
        # search's lookback, so a pull reads what changed since, not that cycle's echoes.
        time.sleep(stage.settings().sync.lookback_seconds + 1)
        with stage.factory() as session:
            accrued = select(LedgerEntry.opportunity_id)  # a rule applies: a change moves it
            deals = session.scalars(
                select(Opportunity.crm_id).where(
                    Opportunity.id.in_(accrued),
                    Opportunity.crm == "hubspot", Opportunity.is_won.is_(True),
                    Opportunity.partner_id.is_not(None), Opportunity.currency == "USD",
                    Opportunity.direction == CoSellDirection.PARTNER_SOURCED_DIRECT_SOLD,
                    Opportunity.amount.between(2_000, 40_000))
                .order_by(Opportunity.id).limit(args.changes)
            ).all()  # fmt: skip
        http = httpx.Client(base_url=stage.url, headers={"Authorization": "Bearer sandbox"},
                            timeout=30)  # fmt: skip
        for deal in deals:
            path = f"/crm/v3/objects/deals/{deal}"
            shown = http.get(path, params={"properties": f"amount,{field.crm_field}"}).json()
            before = shown["properties"].get(field.crm_field)
            amount = int(float(shown["properties"]["amount"])) + 1_000
            began = time.perf_counter()
            http.patch(path, json={"properties": {"amount": str(amount)}}).raise_for_status()
            deadline = began + 120
            while time.perf_counter() < deadline:
                now = http.get(path, params={"properties": field.crm_field}).json()
                if now["properties"].get(field.crm_field) not in (None, before):
                    out.append(time.perf_counter() - began)
                    break
                time.sleep(0.02)
            # Polling: the next change at a random point of the interval, not just after
            # the pull that wrote the last one back (which would always wait a full one).
            time.sleep(0.5 if webhooks else random.uniform(0.5, interval))
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(60)
        logs.close()
        stage.close()
    return out


def partner_accounts(deals: int) -> Accounts:
    """The partner accounts of the seeded sandbox (the seed is deterministic)."""
    box = Sandbox()
    seed_sandbox(box, min(deals, 50))
    return {crm: {p.key: box.partner_account(cast(Api, crm), p.name) for p in PARTNERS}
            for crm in CRMS}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=10_000, help="deals per CRM")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--skip-reaction", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--changes", type=int, default=8, help="CRM changes timed")
    parser.add_argument("--poll-seconds", type=int, default=10)
    parser.add_argument("--logs", type=Path, help="keep partnersync run's log lines here")
    parser.add_argument("--push-shards", type=int, default=1,
                        help="[queue] push_shards of the worker processes")  # fmt: skip
    args = parser.parse_args()
    names: list[str] = []
    accounts = partner_accounts(args.deals)
    try:
        if not args.skip_reaction:
            reaction(args, names, accounts)
        if not args.skip_throughput:
            throughput(args, names, accounts)
    finally:
        drop_databases(names)


if __name__ == "__main__":
    main()
