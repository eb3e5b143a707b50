"""The port's smaller promises: id aliases, user names, the one timestamp parser, deletes
and totals on pages (real clients against the sandbox)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import Watermark
from connectors.salesforce import SalesforceConfig, SalesforceConnector
from connectors.salesforce_wire import case_safe_id
from connectors.wire import parse_instant
from sandbox import (
    SALESFORCE_USERS,
    Sandbox,
    SandboxServer,
    salesforce_user,
    seed_hubspot,
    seed_salesforce,
)
from tests.sync.links import SF_MAPPING, hubspot, salesforce


@pytest.mark.parametrize(
    ("record_id", "aliases"),
    [
        pytest.param("0015g00000Ab1cDAAR", ("0015g00000Ab1cDAAR", "0015g00000Ab1cD"),
                     id="18-to-15"),
        pytest.param("0015g00000Ab1cD", ("0015g00000Ab1cD", "0015g00000Ab1cDAAR"), id="15-to-18"),
        pytest.param("0015g00000Ab1cDXYZ", ("0015g00000Ab1cDXYZ",), id="bad-checksum"),
        pytest.param("ACME", ("ACME",), id="a-partner-id"),
        pytest.param("0015g00000Ab1cD'--", ("0015g00000Ab1cD'--",), id="hostile"),
    ],
)  # fmt: skip
def test_salesforce_ids_in_both_forms(record_id: str, aliases: tuple[str, ...]) -> None:
    """A Salesforce id is known in its 15- and 18-character forms; anything else alone."""
    connector = SalesforceConnector(SalesforceConfig(instance_url="http://127.0.0.1:1"))
    assert connector.id_aliases(record_id) == aliases


def test_the_case_safe_suffix_matches_the_sandbox_ids(sandbox: Sandbox) -> None:
    """The 18-character ids the sandbox hands out carry the suffix we compute."""
    seed_salesforce(sandbox, 20)
    for record in sandbox.salesforce.records("Opportunity"):
        assert case_safe_id(record["Id"][:15]) == record["Id"]


def test_salesforce_names_users_and_hubspot_does_not(sandbox_server: SandboxServer) -> None:
    """User names come from Salesforce's User records in one call; HubSpot tells none."""
    sf = salesforce(sandbox_server)
    rep = salesforce_user(12)
    calls = sf.calls
    names = sf.user_names([rep.id, rep.id[:15], SALESFORCE_USERS[0].id, "005000000000000", "x'"])
    assert names == {rep.id: rep.name, rep.id[:15]: rep.name, SALESFORCE_USERS[0].id:
                     "Integration User"}  # fmt: skip
    assert sf.calls - calls == 1
    assert sf.user_names(["nonsense"]) == {}
    assert sf.calls - calls == 1  # nothing worth asking: no call
    assert hubspot(sandbox_server).user_names(["77"]) == {}


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param("2024-01-01T10:00:00.000+0000", datetime(2024, 1, 1, 10, tzinfo=UTC),
                     id="salesforce"),
        pytest.param("2024-01-01T10:00:00.123Z", datetime(2024, 1, 1, 10, 0, 0, 123000, UTC),
                     id="hubspot-iso"),
        pytest.param("1704103200000", datetime(2024, 1, 1, 10, tzinfo=UTC), id="epoch-ms"),
        pytest.param("2024-01-01T12:00:00+02:00", datetime(2024, 1, 1, 10, tzinfo=UTC),
                     id="offset"),
    ],
)  # fmt: skip
def test_one_parser_for_every_crm_timestamp(wire: str, expected: datetime) -> None:
    """Both CRMs' timestamps become UTC-aware datetimes."""
    assert parse_instant(wire) == expected
    assert parse_instant(wire).tzinfo is UTC


@pytest.mark.parametrize(
    ("wire", "says"),
    [
        pytest.param("2024-01-01T10:00:00", "has no time zone", id="naive"),
        pytest.param("yesterday", "is not an ISO 8601 date-time", id="word"),
        pytest.param("-99999999999999", "out of range", id="epoch-out-of-range"),
    ],
)
def test_the_timestamp_parser_says_why_it_refuses(wire: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_instant(wire)


def test_deleted_records_and_totals_arrive_on_pages(
    sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """Salesforce flags deleted records on the page and says how many the read brings;
    HubSpot's search says its total too."""
    seed_salesforce(sandbox, 30)
    seed_hubspot(sandbox, 30)
    gone = sandbox.record_ids("salesforce", "Opportunity")[0]
    sandbox.delete("salesforce", "Opportunity", gone)
    pages = list(salesforce(sandbox_server).changed_since(None, SF_MAPPING.read_fields()))
    assert pages[0].total == 30
    flagged = [r.id for page in pages for r in page.records if r.deleted]
    assert flagged == [gone]
    since = Watermark(datetime(2000, 1, 1, tzinfo=UTC))
    searched = list(hubspot(sandbox_server).changed_since(since, ["dealname"]))
    assert searched[0].total == 30
