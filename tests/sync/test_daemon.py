"""The daemon's jobs through the queue: actors on dramatiq's in-memory broker and on a real
Redis, worker threads, the sandbox CRMs over HTTP, the store on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dramatiq
import pytest
import redis
import structlog
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from hubspot import HubSpot
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from connectors.retry import RetryPolicy
from sandbox import Sandbox, SandboxServer, parse_rate
from sync.actors import Actors, declare, in_process
from sync.crm import CrmLink
from sync.cycle import Cycle
from sync.daemon import Daemon, job_name
from sync.jobs import Jobs
from sync.mapping import MappingError, parse_mapping
from sync.partners import PartnerInput, add_partner
from sync.registrations import RegistrationService
from sync.settings import ConfigError, Settings
from sync.store import Job
from tests.conftest import REDIS_URL
from tests.sync import test_commissions as money
from tests.sync.links import LINKS, REPO, hubspot, mirrored, salesforce
from tests.sync.test_registration_e2e import crm_shows, shown

ACCOUNT_FIELD = {"salesforce": "salesforce_account_id", "hubspot": "hubspot_company_id"}


def job(store: sessionmaker[Session], name: str) -> Job | None:
    with store() as session:
        row = session.get(Job, name)
        if row is not None:
            session.expunge(row)
        return row


def wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the daemon did not get there in time")
        time.sleep(0.05)


PARTNERS = {"salesforce": ("ACME", "Acme Cloud Partners", "Globex Industries", "globex.com"),
            "hubspot": ("BLUEFIN", "Bluefin Systems", "Initrode", "initrode.com")}  # fmt: skip


def a_partners_deal(crm: str, sandbox: Sandbox, store: sessionmaker[Session]) -> str:
    """A partner in the store named on a new deal in the CRM: the pull registers it
    (register_from_crm), the push shows Pending on the deal."""
    _, _, seed = LINKS[crm]
    seed(sandbox, 5)
    partner, account_name, customer_name, domain = PARTNERS[crm]
    account = sandbox.partner_account(crm, account_name)  # type: ignore[arg-type]
    add_partner(store, PartnerInput(partner, partner.title(), "silver",
                                    **{ACCOUNT_FIELD[crm]: account}),
                Settings().program, actor="test")  # fmt: skip
    customer = sandbox.add_customer(crm, customer_name, domain)  # type: ignore[arg-type]
    return sandbox.add_deal(crm, name=customer_name, customer=customer, partner=account,  # type: ignore[arg-type]
                            amount=Decimal("25000"))  # fmt: skip


def make_daemon(
    broker: dramatiq.Broker,
    store: sessionmaker[Session],
    links: list[CrmLink],
    settings: Settings | None = None,
    **options: Any,
) -> tuple[Actors, Daemon]:
    holder: dict[str, Daemon] = {}
    actors = declare(broker, lambda: holder["daemon"])
    holder["daemon"] = Daemon(settings or Settings(), store, send=actors.send, configured=links,
                              **options)  # fmt: skip
    return actors, holder["daemon"]


@contextmanager
def stub() -> Iterator[StubBroker]:
    broker = StubBroker()
    try:
        yield broker
    finally:
        broker.close()


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_a_pull_trigger_mirrors_then_pushes_through_the_queue(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    connect, mapping, _ = LINKS[crm]
    deal = a_partners_deal(crm, sandbox, store)
    with stub() as broker:
        actors, daemon = make_daemon(broker, store, [CrmLink(connect(sandbox_server), mapping)])
        with in_process(actors, threads=2):
            assert daemon.trigger("pull", crm) is True
            wait_for(lambda: getattr(job(store, f"push:{crm}"), "outcome", None) == "ok")
            broker.join("partnersync", timeout=10_000)
    pending = shown(mapping, "registration.status", "pending")
    assert crm_shows(sandbox, crm, mapping, deal, "registration.status") == pending
    pulled, pushed = job(store, f"pull:{crm}"), job(store, f"push:{crm}")
    assert pulled is not None
    assert pushed is not None
    assert (pulled.outcome, pulled.runs, pulled.holder) == ("ok", 1, None)
    assert pulled.report is not None
    assert pulled.report["upserted"] == 6
    assert pushed.totals is not None
    assert pushed.totals["sent"] >= 1  # a push after the pull's commit (and one at its end)


def test_pushes_of_shares_run_side_by_side_on_disjoint_rows(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """[queue] push_shards = 3: one push trigger is a push of each share; each writes the
    rows of its own deals (id modulo 3), together all of them, each once."""
    from sync.store import Opportunity, OutboxEntry, OutboxStatus, transaction
    from sync.writeback.outbox import stage

    _, mapping, seed = LINKS["hubspot"]
    seed(sandbox, 60)
    link = CrmLink(hubspot(sandbox_server), mapping)
    settings = Settings()
    settings = settings.model_copy(update={"queue": settings.queue.model_copy(
        update={"push_shards": 3})})  # fmt: skip
    Cycle(settings, store, configured=[link]).pull(link)
    with transaction(store) as session:
        deals = session.scalars(select(Opportunity).where(Opportunity.crm == "hubspot")).all()
        for deal in deals:
            stage(session, deal, {"registration.reason": f"r{deal.id}"})
        shares = {k: sum(1 for d in deals if d.id % 3 == k) for k in range(3)}
    with stub() as broker:
        actors, daemon = make_daemon(broker, store, [link], settings)
        sent: list[tuple[str, ...]] = []
        send = daemon.send
        daemon.send = lambda *args: (sent.append(args), send(*args))  # type: ignore[method-assign]
        with in_process(actors, threads=3):
            assert daemon.trigger("push", "hubspot") is True
            names = ["push:hubspot", "push:hubspot:1", "push:hubspot:2"]
            wait_for(lambda: all(getattr(job(store, n), "outcome", None) == "ok" for n in names))
            broker.join("partnersync", timeout=10_000)
    assert sorted(sent) == [("push", "hubspot"), ("push", "hubspot", "1"),
                            ("push", "hubspot", "2")]  # fmt: skip
    done = {k: job(store, name).totals["done"] for k, name in enumerate(names)}  # type: ignore[union-attr,index]
    assert done == shares
    with store() as session:
        assert set(session.scalars(select(OutboxEntry.status))) == {OutboxStatus.DONE}
    for deal in deals:
        assert (
            sandbox.hubspot.get("deals", deal.crm_id)["properties"][
                mapping.outbound_for("registration.reason").crm_field
            ]
            == f"r{deal.id}"
        )  # type: ignore[union-attr]
    for wrong in ("3", "-1", "one"):
        with pytest.raises(ConfigError, match="push_shards is 3"):
            daemon.push("hubspot", wrong)


def test_triggers_during_a_pull_are_one_more_pull_not_a_hundred(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A hundred webhooks' worth of triggers while a pull runs send no message: the
    running pull runs once more for all of them."""
    _, mapping, seed = LINKS["hubspot"]
    seed(sandbox, 300)
    sandbox.reconfigure(latency_ms=150)  # a pull of a few pages that lasts a while
    with stub() as broker:
        actors, daemon = make_daemon(broker, store, [CrmLink(hubspot(sandbox_server), mapping)])
        with in_process(actors, threads=4):
            assert daemon.trigger("pull", "hubspot") is True
            wait_for(lambda: getattr(job(store, "pull:hubspot"), "holder", None) is not None)
            sent = [daemon.trigger("pull", "hubspot") for _ in range(100)]
            wait_for(lambda: getattr(job(store, "push:hubspot"), "outcome", None) == "ok", 60)
            broker.join("partnersync", timeout=30_000)
    assert sent == [False] * 100
    pulled, pushed = job(store, "pull:hubspot"), job(store, "push:hubspot")
    assert pulled is not None
    assert pushed is not None
    assert pulled.runs == 2
    assert 1 <= pushed.runs <= 6  # after commits and at the ends: a handful, not a hundred


def test_a_rate_limited_pull_is_retried_after_the_wait_the_crm_asked_for(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session], hs: HubSpot
) -> None:
    _, mapping, seed = LINKS["hubspot"]
    seed(sandbox, 5)
    sandbox.reconfigure(hubspot_rate=parse_rate("1/10s"))
    hs.crm.deals.basic_api.get_page(limit=1)  # the one call of these 10 s
    connector = hubspot(sandbox_server, retry=RetryPolicy(attempts=1))
    with stub() as broker:
        actors, _ = make_daemon(broker, store, [CrmLink(connector, mapping)])
        with pytest.raises(dramatiq.Retry) as info:
            actors.pull.fn("hubspot")
    assert info.value.delay is not None
    assert 1_000 <= info.value.delay <= 10_000
    pulled = job(store, "pull:hubspot")
    assert pulled is not None
    assert (pulled.outcome, pulled.holder) == ("error", None)
    assert pulled.error is not None
    assert pulled.error.startswith("RateLimited")


def test_a_mapping_error_is_refused_once_not_retried(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A field the CRM lacks: no retry can mend it. The job says refused after one run,
    the message is dead at once (not waiting in the delay queue) and no deal was read."""
    _, _, seed = LINKS["hubspot"]
    seed(sandbox, 5)
    text = (REPO / "mappings" / "hubspot.toml").read_text().replace(
        'stage          = "dealstage"', 'stage          = "deal_stage"')  # fmt: skip
    typo = parse_mapping(text, "custom/hubspot.toml")
    with stub() as broker:
        actors, daemon = make_daemon(broker, store, [CrmLink(hubspot(sandbox_server), typo)])
        sandbox.stats.reset()
        with in_process(actors, threads=1):
            daemon.trigger("pull", "hubspot")
            # Dead at once (a retry would wait in the delay queue and join time out).
            with pytest.raises(MappingError, match=r"custom/hubspot\.toml"):
                broker.join("partnersync", timeout=5_000)
    pulled = job(store, "pull:hubspot")
    assert pulled is not None
    assert (pulled.outcome, pulled.runs) == ("refused", 1)
    assert pulled.error is not None
    assert "custom/hubspot.toml: inbound.stage" in pulled.error
    assert sandbox.stats.count("GET /crm/v3/objects/deals") == 0


def test_the_sweeps_expire_registrations_and_schedule_approved_payouts(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    """Through the actors: a registration approved in January with 120 days expires in
    December; an approved payout is scheduled for its due date."""
    january = datetime(2026, 1, 5, 9, tzinfo=UTC)
    money.setup(store, tmp_path)
    registrations = RegistrationService(store, Settings().program, clock=lambda: january)
    submitted = registrations.submit(partner_id="ACME", customer_name="Initech",
                                     customer_domain="initech.com", amount="1000",
                                     currency="USD", actor="test")  # fmt: skip
    registrations.approve(submitted["id"], actor="manager")
    deal_id = money.deal(store)
    money.settle_now(store, deal_id)
    payouts = money.payouts(store)
    [payout] = payouts.list_payouts(partner_id="ACME")
    payouts.approve([payout["id"]], actor="finance")
    with stub() as broker:
        actors, _ = make_daemon(broker, store, [], clock=lambda: money.NOW + timedelta(days=300))
        with in_process(actors, threads=2):
            actors.send("expire_registrations")
            actors.send("schedule_payouts")
            broker.join("partnersync", timeout=10_000)
    assert registrations.get(submitted["id"])["status"] == "expired"
    [scheduled] = payouts.list_payouts(partner_id="ACME")
    assert scheduled["status"] == "scheduled"
    assert scheduled["scheduled_for"] == (money.NOW + timedelta(days=300)).date()
    swept = job(store, "schedule_payouts")
    assert swept is not None
    assert swept.report == {"scheduled": 1}
    expired = job(store, "expire_registrations")
    assert expired is not None
    assert expired.report == {"changed": 1, "expired": 1}


def test_schedule_payouts_takes_the_due_date_when_it_is_ahead(
    store: sessionmaker[Session], tmp_path: Path
) -> None:
    money.setup(store, tmp_path)
    money.settle_now(store, money.deal(store, close_date=date(2026, 3, 30)))
    payouts = money.payouts(store)
    [payout] = payouts.list_payouts(partner_id="ACME")
    payouts.approve([payout["id"]], actor="finance")
    [scheduled] = payouts.schedule_approved(actor="daemon")
    assert scheduled["scheduled_for"] == date(2026, 4, 29)  # 30 March + 30 days, after today
    assert payouts.schedule_approved(actor="daemon") == []


@pytest.fixture
def redis_broker() -> Iterator[RedisBroker]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    broker = RedisBroker(url=REDIS_URL)
    try:
        yield broker
    finally:
        broker.close()
        client.flushdb()


def test_on_redis_workers_converge_and_a_flushed_queue_loses_nothing(
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    store: sessionmaker[Session],
    redis_broker: RedisBroker,
) -> None:
    """Both CRMs through a real Redis broker. The first triggers are flushed away before
    any worker reads them: the store still knows they wait, and once the wait is stale
    the next trigger sends again; the CRMs show the registrations."""
    deals = {crm: a_partners_deal(crm, sandbox, store) for crm in ("salesforce", "hubspot")}
    links = [CrmLink(LINKS[crm][0](sandbox_server), LINKS[crm][1]) for crm in deals]
    clock_now = [datetime.now(UTC)]
    jobs = Jobs(store, clock=lambda: clock_now[0], stale=timedelta(minutes=5))
    actors, daemon = make_daemon(redis_broker, store, links, jobs=jobs)
    assert [daemon.trigger("pull", crm) for crm in deals] == [True, True]
    redis.Redis.from_url(REDIS_URL).flushdb()  # every queued trigger lost
    assert [daemon.trigger("pull", crm) for crm in deals] == [False, False]  # still waiting
    clock_now[0] += timedelta(minutes=6)
    assert [daemon.trigger("pull", crm) for crm in deals] == [True, True]
    with in_process(actors, threads=4):
        wait_for(lambda: all(getattr(job(store, job_name("push", c)), "outcome", None) == "ok"
                             for c in deals))  # fmt: skip
    for crm, deal in deals.items():
        mapping = LINKS[crm][1]
        pending = shown(mapping, "registration.status", "pending")
        assert crm_shows(sandbox, crm, mapping, deal, "registration.status") == pending


def test_stopping_mid_pull_keeps_whole_pages_and_a_consistent_resume_point(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """What SIGTERM does (Runner.stop): the pull under way stops after the page it is on is
    committed. The store then holds whole pages only, the resume point follows the last of
    them, no outbox row is half-done, and the next pull completes the mirror without a
    gap or a duplicate."""
    from sync.runner import Runner
    from sync.store import OutboxEntry, SyncState

    _, mapping, seed = LINKS["hubspot"]
    seed(sandbox, 3000)
    sandbox.reconfigure(latency_ms=150)  # 30 pages of 100: several seconds, commits every 2
    settings = Settings()
    settings = settings.model_copy(update={"sync": settings.sync.model_copy(
        update={"interval_seconds": 3600})})  # fmt: skip
    link = CrmLink(hubspot(sandbox_server), mapping)
    runner = Runner(settings, store, api=False, configured=[link])
    with runner:
        wait_for(lambda: len(mirrored(store, "hubspot")) >= 100)  # a first commit
        runner.stop()
    pulled = job(store, "pull:hubspot")
    assert pulled is not None
    assert (pulled.outcome, pulled.holder) == ("interrupted", None)
    stored = mirrored(store, "hubspot")
    assert 100 <= len(stored) < 3000
    assert len(stored) % 100 == 0  # whole pages of 100
    with store() as session:
        state = session.get(SyncState, ("hubspot", "deals"))
        assert state is not None
        assert state.cursor is not None  # a full read, interrupted: it resumes here
        statuses = {e.status.value for e in session.scalars(select(OutboxEntry))}
    assert statuses <= {"pending", "done", "retry"}
    sandbox.reconfigure(latency_ms=0)
    Cycle(settings, store, configured=[link]).pull(link)
    assert sorted(mirrored(store, "hubspot")) == sorted(sandbox.record_ids("hubspot", "deals"))


def test_salesforce_pulls_pause_at_the_daily_budget_and_resume_once_it_frees_up(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """At [salesforce] daily_budget_percent of the org's allocation (Sforce-Limit-Info) a
    pull pauses and says so (the job, the log, status and metrics read it); once the
    allocation frees up (asked with one call to limits/) pulls go on."""
    from sync.metrics import exposition
    from sync.status import daemon_status

    _, mapping, seed = LINKS["salesforce"]
    seed(sandbox, 5)
    sandbox.reconfigure(salesforce_daily_limit=100)
    base = Settings()
    settings = base.model_copy(update={"salesforce": base.salesforce.model_copy(
        update={"daily_budget_percent": 50})})  # fmt: skip
    link = CrmLink(salesforce(sandbox_server), mapping)
    daemon = Daemon(settings, store, send=lambda *_: None, configured=[link])
    first = daemon.pull("salesforce")
    assert first.report is not None
    assert first.report["quota_limit"] == 100
    sandbox.api_usage["salesforce"] = 60  # the org's other integrations spent most of it
    daemon.pull("salesforce")  # the last answer said a few calls: it pulls, and learns
    with structlog.testing.capture_logs() as logs:
        paused = daemon.pull("salesforce")
    assert paused.interrupted
    pulled = job(store, "pull:salesforce")
    assert pulled is not None
    assert pulled.outcome == "paused"
    assert pulled.error is not None
    assert "of the daily 100 API calls used, at or over the 50 % budget" in pulled.error
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["pull.paused"]
    shown = daemon_status(store, now=datetime.now(UTC))["crms"]
    assert shown[0]["daily_quota_used"].endswith("%")
    assert int(shown[0]["daily_quota_used"].rstrip("%")) >= 50
    assert b'partnersync_job_last_outcome{job="pull:salesforce",outcome="paused"} 1.0' in (
        exposition(store, lambda: datetime.now(UTC))
    )
    sandbox.api_usage["salesforce"] = 0  # a new day
    resumed = daemon.pull("salesforce")
    assert (resumed.ran, resumed.interrupted) == (True, False)
    assert job(store, "pull:salesforce").outcome == "ok"  # type: ignore[union-attr]


def test_a_jobs_log_lines_name_the_job_its_crm_and_its_message(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """JSON lines, each bound to the job, the CRM and the queue message it came from."""
    import io
    import json

    from sync.actors import make_broker
    from sync.log import configure_logging

    _, mapping, seed = LINKS["hubspot"]
    seed(sandbox, 5)
    lines = io.StringIO()
    configure_logging("info", json=True, stream=lines)
    try:
        broker = make_broker(Settings())
        actors, daemon = make_daemon(broker, store, [CrmLink(hubspot(sandbox_server), mapping)])
        with in_process(actors, threads=1):
            daemon.trigger("pull", "hubspot")
            broker.join("partnersync", timeout=10_000)
    finally:
        configure_logging("warning")
        broker.close()
    events = [json.loads(line) for line in lines.getvalue().splitlines()]
    pulled = [e for e in events if e["event"] in ("pull.done", "job.done") and
              e.get("job") == "pull:hubspot"]  # fmt: skip
    assert [e["event"] for e in pulled] == ["pull.done", "job.done"]
    assert {e["crm"] for e in pulled} == {"hubspot"}
    assert all(e["message_id"] for e in pulled)
