"""The mirror, end to end: real clients -> our connectors -> the store (SQLite and PostgreSQL).

Nothing here is mocked: the connectors talk HTTP to the sandbox through simple-salesforce
and hubspot-api-client, and the store is a real database. Only retry sleeps are patched.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from connectors.base import RecordPage, Watermark
from connectors.errors import ConfigurationError, QuotaExhausted
from connectors.hubspot import HubSpotConfig, HubSpotConnector
from sandbox import Sandbox, SandboxServer, parse_faults, seed_hubspot, seed_salesforce
from sync.mapping import parse_mapping
from sync.mirror.pull import PullReport, pull
from sync.store import QuarantinedRecord, SyncState
from tests.sync.links import (
    HS_MAPPING,
    LINKS,
    NO_WAIT,
    REPO,
    SF_MAPPING,
    hubspot,
    mirrored,
    salesforce,
)

BASE = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def sandbox_view(sandbox: Sandbox, crm: str) -> dict[str, tuple[str, bool]]:
    """crm id -> (name, deleted) for every opportunity / deal the sandbox holds."""
    if crm == "salesforce":
        org = sandbox.salesforce
        return {
            r["Id"]: (r["Name"], bool(r["IsDeleted"]))
            for r in org.records("Opportunity", include_deleted=True)
        }
    portal = sandbox.hubspot
    ids = list(portal.table("deals")._by_id)  # live and archived alike
    records = [portal.get("deals", str(i)) for i in ids]
    return {
        r["id"]: (r["properties"]["dealname"], bool(r.get("archived")))
        for r in records
        if r is not None
    }


def assert_store_equals_sandbox(factory: sessionmaker[Session], sandbox: Sandbox, crm: str) -> None:
    """Record for record: same ids, names and deleted flags."""
    expected = sandbox_view(sandbox, crm)
    actual = {k: (v.name, v.deleted) for k, v in mirrored(factory, crm).items()}
    assert actual == expected


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_initial_load_then_incremental(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """5,000 records load in the floor of list/query pages; 10 edits come back incrementally."""
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 5_000)
    first = pull(store, connect(sandbox_server), mapping)
    assert first.upserted == 5_000
    assert first.quarantined == 0
    assert_store_equals_sandbox(store, sandbox, crm)
    if crm == "salesforce":
        assert first.api_calls == math.ceil(5_000 / 2_000)
    else:  # list pages + the archived listing + company batch reads (cached)
        companies = sandbox.hubspot.count("companies")
        assert first.api_calls <= math.ceil(5_000 / 100) + 1 + math.ceil(companies / 100)

    ids = sorted(mirrored(store, crm))[:10]
    for index, record_id in enumerate(ids):
        if crm == "salesforce":
            sandbox.salesforce.update("Opportunity", record_id, {"Name": f"Renamed {index}"})
        else:
            sandbox.hubspot.update("deals", record_id, {"dealname": f"Renamed {index}"})
    second = pull(store, connect(sandbox_server), mapping)
    assert 10 <= second.read < 100
    rows = mirrored(store, crm)
    assert {rows[i].name for i in ids} == {f"Renamed {n}" for n in range(10)}
    assert_store_equals_sandbox(store, sandbox, crm)


def test_no_change_incremental_costs_one_call(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """With nothing changed, a Salesforce incremental is one queryAll call."""
    seed_salesforce(sandbox, 300)
    pull(store, salesforce(sandbox_server), SF_MAPPING)
    again = pull(store, salesforce(sandbox_server), SF_MAPPING)
    assert again.api_calls == 1
    assert again.upserted == 0


def test_equal_modstamps_across_a_page_boundary_and_a_kill(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """2,500 records sharing one SystemModstamp, killed after page one, resume with no gap."""
    account = sandbox.salesforce.insert("Account", {"Name": "Tie Corp"})
    sandbox.salesforce.insert_many(
        "Opportunity",
        (
            {"Name": f"Tie {i:04d}", "StageName": "Prospecting", "CloseDate": BASE.date(),
             "AccountId": account, "SystemModstamp": BASE, "LastModifiedDate": BASE,
             "CreatedDate": BASE}
            for i in range(2_500)
        ),
    )  # fmt: skip

    class Killed(Exception):
        pass

    def kill_after_first_page(report: PullReport) -> None:
        if report.pages == 1:
            raise Killed

    with pytest.raises(Killed):
        pull(store, salesforce(sandbox_server), SF_MAPPING, on_page=kill_after_first_page,
             commit_records=2_000)  # fmt: skip
    assert len(mirrored(store, "salesforce")) == 2_000
    resumed = pull(store, salesforce(sandbox_server), SF_MAPPING)
    assert resumed.read >= 500
    assert_store_equals_sandbox(store, sandbox, "salesforce")


def test_hubspot_full_load_resumes_from_its_cursor(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A HubSpot full load killed mid-way resumes from the stored list cursor, not page one."""
    seed_hubspot(sandbox, 450)

    class Killed(Exception):
        pass

    def kill(report: PullReport) -> None:
        if report.pages == 2:
            raise Killed

    with pytest.raises(Killed):  # one page per transaction: killed after two commits
        pull(store, hubspot(sandbox_server), HS_MAPPING, on_page=kill, commit_records=100)
    with store() as session:
        assert session.get(SyncState, ("hubspot", "deals")).cursor  # type: ignore[union-attr]
    resumed = pull(store, hubspot(sandbox_server), HS_MAPPING)
    assert resumed.read == 250
    assert_store_equals_sandbox(store, sandbox, "hubspot")


class Killed(BaseException):
    """Stands for the process dying mid-run: not an ``Exception``, so the pull takes it for
    no read error (whose pages before it it would commit) and commits nothing more."""


class HubSpotKilledAtPage(HubSpotConnector):
    """The real connector, whose page stream dies when asked for page ``fatal``."""

    def __init__(self, config: HubSpotConfig, fatal: int) -> None:
        super().__init__(config)
        self.fatal = fatal

    def changed_since(
        self, watermark: Watermark | None, fields: Sequence[str], cursor: str | None = None
    ) -> Iterator[RecordPage]:
        for number, page in enumerate(super().changed_since(watermark, fields, cursor), 1):
            if number == self.fatal:
                raise Killed
            yield page


def test_hubspot_pages_share_a_transaction_with_their_cursor(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """HubSpot's 100-record pages commit in groups, each with the cursor after its last page."""
    seed_hubspot(sandbox, 1_000)
    commits: list[tuple[int, int]] = []
    cursors: list[str | None] = []

    def committed(report: PullReport) -> None:
        commits.append((report.pages, report.upserted))
        with store() as session:
            cursors.append(session.get(SyncState, ("hubspot", "deals")).cursor)  # type: ignore[union-attr]

    pull(store, hubspot(sandbox_server), HS_MAPPING, on_page=committed,
         commit_records=400, commit_seconds=600)  # fmt: skip
    assert commits == [(4, 400), (8, 800), (10, 1_000)]
    assert [c is not None for c in cursors] == [True, True, False]
    assert_store_equals_sandbox(store, sandbox, "hubspot")


def test_a_kill_inside_a_multi_page_transaction_resumes_without_gaps(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Killed with pages 4-5 written but not committed, the store keeps pages 1-3 and their
    cursor; the next run reads from page 4 on and the mirror ends complete."""
    seed_hubspot(sandbox, 750)
    config = HubSpotConfig(base_url=sandbox_server.url, access_token="sandbox", retry=NO_WAIT)
    with pytest.raises(Killed):
        pull(store, HubSpotKilledAtPage(config, fatal=6), HS_MAPPING,
             commit_records=300, commit_seconds=600)  # fmt: skip
    assert len(mirrored(store, "hubspot")) == 300
    with store() as session:
        assert session.get(SyncState, ("hubspot", "deals")).cursor  # type: ignore[union-attr]
    resumed = pull(store, hubspot(sandbox_server), HS_MAPPING)
    assert (resumed.read, resumed.upserted) == (450, 450)
    assert_store_equals_sandbox(store, sandbox, "hubspot")


@pytest.mark.slow
def test_more_than_ten_thousand_hubspot_changes_in_one_window(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Past the 10,000-result search cap the connector opens a new window and misses none."""
    pull(store, hubspot(sandbox_server), HS_MAPPING)  # empty portal: sets the watermark
    start = datetime.now(UTC) + timedelta(seconds=1)

    def stamp(i: int) -> str:
        # 10,500 deals over ~5,000 distinct milliseconds: plenty of ties at window edges.
        moment = start + timedelta(milliseconds=i // 2)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"

    sandbox.hubspot.create_many(
        "deals",
        (
            {"dealname": f"Bulk {i}", "dealstage": "appointmentscheduled", "pipeline": "default",
             "amount": "100", "deal_currency_code": "USD", "createdate": stamp(i),
             "hs_lastmodifieddate": stamp(i)}
            for i in range(10_500)
        ),
    )  # fmt: skip
    report = pull(store, hubspot(sandbox_server), HS_MAPPING)
    assert report.upserted >= 10_500
    assert len(mirrored(store, "hubspot")) == 10_500
    assert_store_equals_sandbox(store, sandbox, "hubspot")


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_deletes_and_archives_are_marked_not_dropped(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A record deleted / archived in the CRM keeps its row, flagged deleted."""
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 50)
    pull(store, connect(sandbox_server), mapping)
    victims = sorted(mirrored(store, crm))[:3]
    for record_id in victims:
        if crm == "salesforce":
            sandbox.salesforce.delete("Opportunity", record_id)
        else:
            sandbox.hubspot.archive("deals", record_id)
    report = pull(store, connect(sandbox_server), mapping)
    assert report.deleted == 3
    rows = mirrored(store, crm)
    assert len(rows) == 50
    assert {i for i, row in rows.items() if row.deleted} == set(victims)
    assert all(rows[i].deleted_at is not None for i in victims)
    assert_store_equals_sandbox(store, sandbox, crm)


def test_expired_session_mid_run_with_password_login(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """With password auth an expiring session is renewed mid-run and nothing is lost."""
    seed_salesforce(sandbox, 5_000)
    sandbox.reconfigure(faults=parse_faults("expire-session-after:2"))
    connector = salesforce(
        sandbox_server,
        auth="password",
        session_id=None,
        username=sandbox.config.salesforce_username,
        password=sandbox.config.salesforce_password,
    )
    report = pull(store, connector, SF_MAPPING)
    assert report.upserted == 5_000
    assert_store_equals_sandbox(store, sandbox, "salesforce")


def test_expired_static_session_is_a_configuration_error(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """A static session id that expires mid-run stops with a clear error; pages stay stored."""
    seed_salesforce(sandbox, 5_000)
    sandbox.reconfigure(faults=parse_faults("expire-session-after:2"))
    with pytest.raises(ConfigurationError, match="session id expired"):
        pull(store, salesforce(sandbox_server), SF_MAPPING)
    assert len(mirrored(store, "salesforce")) == 4_000
    sandbox.reconfigure(faults=parse_faults(""))
    pull(store, salesforce(sandbox_server), SF_MAPPING)
    assert_store_equals_sandbox(store, sandbox, "salesforce")


@pytest.mark.parametrize(
    ("crm", "faults"),
    [
        pytest.param("salesforce", "503:0.3,500:0.1,seed:4", id="salesforce-5xx-storm"),
        pytest.param("hubspot", "503:0.2,seed:5", id="hubspot-5xx-storm"),
        pytest.param("hubspot", "429:0.4,retry-after:0,seed:6", id="hubspot-429-storm"),
    ],
)
def test_storms_are_ridden_out(
    crm: str,
    faults: str,
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
    store: sessionmaker[Session],
) -> None:
    """Under 5xx and 429 storms the connector retries and the mirror ends complete."""
    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 1_200)
    sandbox.reconfigure(faults=parse_faults(faults))
    connector = connect(sandbox_server)
    report = pull(store, connector, mapping)
    assert report.upserted == 1_200
    assert connector.retries > 0  # type: ignore[attr-defined]
    assert_store_equals_sandbox(store, sandbox, crm)


def test_bad_records_are_quarantined_then_released(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """An unmappable record is quarantined with its reason; the rest of the page proceeds."""
    mapping = parse_mapping(
        (REPO / "mappings" / "salesforce.toml")
        .read_text()
        .replace('paid_date      = "Paid_Date__c"', 'paid_date      = "Description"'),
        "mappings/test.toml",
    )
    seed_salesforce(sandbox, 20)
    bad = sorted(r["Id"] for r in sandbox.salesforce.records("Opportunity"))[:2]
    for record_id in bad:
        sandbox.salesforce.update("Opportunity", record_id, {"Description": "next tuesday"})
    report = pull(store, salesforce(sandbox_server), mapping)
    assert (report.upserted, report.quarantined) == (18, 2)
    assert report.quarantine_reasons == {"paid_date (Description)": 2}
    with store() as session:
        held = session.scalars(select(QuarantinedRecord)).all()
        assert {q.crm_id for q in held} == set(bad)
        assert all("next tuesday" in q.reason for q in held)
        assert all(q.payload["Description"] == "next tuesday" for q in held)

    sandbox.salesforce.update("Opportunity", bad[0], {"Description": "2026-02-03"})
    later = pull(store, salesforce(sandbox_server), mapping)
    assert later.released == 1
    with store() as session:
        assert session.scalar(select(func.count()).select_from(QuarantinedRecord)) == 1
    assert mirrored(store, "salesforce")[bad[0]].paid_date is not None


def test_money_is_exact_and_partners_resolve(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Amounts arrive as exact Decimals; a partner reference resolves to the partner."""
    from sync.store import Partner, transaction

    partner_account = sandbox.salesforce.insert(
        "Account", {"Name": "Acme Cloud", "Type": "Partner"}
    )
    with transaction(store) as session:
        session.add(Partner(id="ACME", name="Acme", tier="gold",
                            salesforce_account_id=partner_account))  # fmt: skip
    opportunity = sandbox.salesforce.insert(
        "Opportunity",
        {"Name": "Exact", "StageName": "Closed Won", "CloseDate": BASE.date(),
         "Amount": Decimal("1234567.89"), "CurrencyIsoCode": "EUR",
         "Partner_Account__c": partner_account},
    )  # fmt: skip
    pull(store, salesforce(sandbox_server), SF_MAPPING)
    row = mirrored(store, "salesforce")[opportunity]
    assert row.amount == Decimal("1234567.89")
    assert row.currency == "EUR"
    assert row.partner_id == "ACME"
    assert (row.is_won, row.is_closed) == (True, True)


def test_values_the_store_cannot_hold_are_quarantined_not_fatal(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Too many decimal places, an amount out of range, a name too long or holding a NUL:
    those records wait in quarantine with the reason; the page and the pull go on."""
    seed_hubspot(sandbox, 30)
    ids = sorted(str(i) for i in sandbox.hubspot.table("deals")._by_id)
    sandbox.hubspot.update("deals", ids[0], {"amount": "10.123456"})
    sandbox.hubspot.update("deals", ids[1], {"amount": "1" + "0" * 20})
    sandbox.hubspot.update("deals", ids[2], {"dealname": "x" * 300})
    sandbox.hubspot.update("deals", ids[3], {"dealname": "Acme\x00Corp"})
    sandbox.hubspot.update("deals", ids[4], {"payout_reference": "PO\x001"})
    report = pull(store, hubspot(sandbox_server), HS_MAPPING)
    assert (report.upserted, report.quarantined) == (25, 5)
    with store() as session:
        quarantined = {q.crm_id: q for q in session.scalars(select(QuarantinedRecord))}
    reasons = {crm_id: q.reason for crm_id, q in quarantined.items()}
    assert "more than 4 decimal places" in reasons[ids[0]]
    assert "out of range" in reasons[ids[1]]
    assert "at most 255" in reasons[ids[2]]
    assert reasons[ids[3]] == "name: contains a NUL character"
    assert reasons[ids[4]].startswith("crm_values: $.payout_reference: contains a NUL")
    # The raw payload keeps the NUL as the text \u0000: PostgreSQL's JSON cannot hold it.
    assert quarantined[ids[3]].payload["dealname"] == "Acme\\u0000Corp"


def test_hubspot_no_change_incremental_is_one_call_between_archive_checks(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """The archived listing (no date filter) is read every `deletes_every`, not every pull;
    the next check starts where the last began, so an archive is late, never missed."""
    seed_hubspot(sandbox, 300)
    every = timedelta(minutes=5)
    start = datetime.now(UTC)

    def at(minutes: int) -> PullReport:
        moment = start + timedelta(minutes=minutes)
        return pull(store, hubspot(sandbox_server), HS_MAPPING, clock=lambda: moment,
                    deletes_every=every)  # fmt: skip

    at(0)
    assert at(1).api_calls == 1  # one search, nothing changed
    gone = sorted(mirrored(store, "hubspot"))[0]
    sandbox.hubspot.archive("deals", gone)
    assert at(2).deleted == 0  # not looked for yet
    later = at(6)
    assert later.deleted == 1
    assert later.api_calls == 1 + math.ceil(1 / 100)  # the search and one archived page
    assert mirrored(store, "hubspot")[gone].deleted


def test_a_spent_daily_allocation_stops_the_pull_at_once(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """REQUEST_LIMIT_EXCEEDED mid-read is not retried: the pull stops with QuotaExhausted,
    the pages read before it committed, and resumes after the reset with no gap."""
    seed_salesforce(sandbox, 5_000)
    sandbox.reconfigure(salesforce_daily_limit=sandbox.api_usage["salesforce"] + 2)
    connector = salesforce(sandbox_server)
    with pytest.raises(QuotaExhausted):
        pull(store, connector, SF_MAPPING, commit_records=2_000)
    assert connector.retries == 0
    assert len(mirrored(store, "salesforce")) == 4_000
    sandbox.reconfigure(salesforce_daily_limit=5_000_000)
    pull(store, salesforce(sandbox_server), SF_MAPPING)
    assert_store_equals_sandbox(store, sandbox, "salesforce")


def test_progress_is_told_after_every_page_with_the_total(
    sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """``on_progress`` hears after each stored page, not each commit, with the records the
    CRM said the read brings (Salesforce's totalSize)."""
    seed_salesforce(sandbox, 5_000)
    heard: list[tuple[int, int | None]] = []
    pull(store, salesforce(sandbox_server), SF_MAPPING, commit_records=10_000,
         on_progress=lambda report: heard.append((report.read, report.total)))  # fmt: skip
    assert heard == [(2_000, 5_000), (4_000, 5_000), (5_000, 5_000)]


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_mirrored_deals_carry_their_customer_keys(
    crm: str, sandbox: Sandbox, sandbox_server: SandboxServer, store: sessionmaker[Session]
) -> None:
    """Every mirrored deal gets the customer keys registrations are matched on: its
    account's normalised name and the registrable domain of its website."""
    from rules.matching import domain_key, name_key

    connect, mapping, seed = LINKS[crm]
    seed(sandbox, 60)
    pull(store, connect(sandbox_server), mapping)
    rows = list(mirrored(store, crm).values())
    assert all(r.customer_name_key == name_key(r.account_name) for r in rows)
    assert all(r.customer_domain_key == domain_key(r.account_domain) for r in rows)
    assert sum(1 for r in rows if r.customer_domain_key) > 30
