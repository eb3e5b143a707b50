"""query / queryAll through simple-salesforce: paging, cursors, wire values, SOQL errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from simple_salesforce.format import format_soql

from sandbox.core import Sandbox
from sandbox.salesforce.org import SalesforceOrg
from sandbox.salesforce.query import MAX_CURSORS
from tests.sandbox.salesforce.helpers import T0, Clock, code_of, opportunity, seed


@pytest.mark.parametrize(
    ("count", "batch", "sizes"),
    [
        pytest.param(2_000, None, [2_000], id="exactly-2000-one-page"),
        pytest.param(2_001, None, [2_000, 1], id="2001-two-pages"),
        pytest.param(450, "batchSize=200", [200, 200, 50], id="batch-size-200"),
        pytest.param(450, "batchSize=50", [200, 200, 50], id="batch-size-below-200-clamped"),
        pytest.param(0, None, [0], id="empty"),
    ],
)
def test_paging(
    org: SalesforceOrg, sf: Salesforce, count: int, batch: str | None, sizes: list[int]
) -> None:
    """Pages hold 2,000 rows (or batchSize); nextRecordsUrl chains them; totalSize is whole."""
    seed(org, count)
    headers = {"Sforce-Query-Options": batch} if batch else {}
    page = sf.query("SELECT Id, Name FROM Opportunity ORDER BY Name", headers=headers)
    pages = [page]
    while not page["done"]:
        assert page["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        pages.append(page)
    assert [len(p["records"]) for p in pages] == sizes
    assert {p["totalSize"] for p in pages} == {count}
    assert "nextRecordsUrl" not in pages[-1]
    names = [r["Name"] for p in pages for r in p["records"]]
    assert names == [f"Deal {i:05d}" for i in range(count)]


def test_query_all_iter_and_query_all(org: SalesforceOrg, sf: Salesforce) -> None:
    """query_all_iter walks every page; query_all gathers them."""
    seed(org, 4_100)
    assert sum(1 for _ in sf.query_all_iter("SELECT Id FROM Opportunity")) == 4_100
    assert sf.query_all("SELECT Id FROM Opportunity")["totalSize"] == 4_100


def test_query_all_sees_deleted_rows(org: SalesforceOrg, sf: Salesforce) -> None:
    """query hides soft-deleted rows; queryAll shows them with IsDeleted true, paging too."""
    ids = seed(org, 2_003)
    org.delete("Opportunity", ids[0])
    soql = "SELECT Id, IsDeleted FROM Opportunity"
    live = list(sf.query_all_iter(soql))
    everything = list(sf.query_all_iter(soql, include_deleted=True))
    assert len(live) == 2_002
    assert ids[0] not in {r["Id"] for r in live}
    assert len(everything) == 2_003
    assert [r["IsDeleted"] for r in everything if r["Id"] == ids[0]] == [True]
    first = sf.query(soql, include_deleted=True)
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/queryAll/")
    deleted = sf.query_all(
        "SELECT Id FROM Opportunity WHERE IsDeleted = true", include_deleted=True
    )
    assert [r["Id"] for r in deleted["records"]] == [ids[0]]


def test_records_on_the_wire(org: SalesforceOrg, sf: Salesforce) -> None:
    """Attributes, numbers, dates, datetimes and booleans look as Salesforce sends them."""
    record_id = org.insert(
        "Opportunity",
        opportunity(Amount=1234.5, StageName="Closed Won", CloseDate=date(2026, 1, 31),
                    SystemModstamp=datetime(2026, 3, 1, 12, 0, 0, 42_000, tzinfo=UTC)),
    )  # fmt: skip
    record = sf.query(
        "SELECT Id, Amount, CloseDate, IsWon, Probability, SystemModstamp, Description "
        "FROM Opportunity"
    )["records"][0]
    assert dict(record) == {
        "attributes": {
            "type": "Opportunity",
            "url": f"/services/data/v59.0/sobjects/Opportunity/{record_id}",
        },
        "Id": record_id,
        "Amount": 1234.5,
        "CloseDate": "2026-01-31",
        "IsWon": True,
        "Probability": 100.0,
        "SystemModstamp": "2026-03-01T12:00:00.042+0000",
        "Description": None,
    }
    assert list(record) == ["attributes", "Id", "Amount", "CloseDate", "IsWon", "Probability",
                            "SystemModstamp", "Description"]  # fmt: skip


def test_relationships_render_nested(org: SalesforceOrg, sf: Salesforce) -> None:
    """Account.Name and Partner_Account__r.* nest with their own attributes, or are null."""
    globex = org.insert("Account", {"Name": "Globex", "Website": "globex.example"})
    partner = org.insert("Account", {"Name": "Initech", "Partner_Tier__c": "Gold"})
    org.insert("Opportunity", opportunity(0, AccountId=globex, Partner_Account__c=partner))
    org.insert("Opportunity", opportunity(1))
    rows = sf.query(
        "SELECT Name, account.name, Account.Website, Partner_Account__r.Partner_Tier__c "
        "FROM Opportunity ORDER BY Name"
    )["records"]
    linked, bare = rows
    assert linked["Account"] == {
        "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{globex}"},
        "Name": "Globex",
        "Website": "globex.example",
    }
    assert linked["Partner_Account__r"]["Partner_Tier__c"] == "Gold"
    assert (bare["Account"], bare["Partner_Account__r"]) == (None, None)
    found = sf.query("SELECT Id FROM Opportunity WHERE Account.Name = 'GLOBEX'")
    assert found["totalSize"] == 1


@pytest.mark.parametrize(
    ("soql", "expected"),
    [
        pytest.param("SELECT COUNT() FROM Opportunity", 5, id="count"),
        pytest.param("SELECT COUNT() FROM Opportunity WHERE Amount >= 103", 2, id="count-where"),
        pytest.param("SELECT Id FROM Opportunity LIMIT 2", 2, id="limit"),
        pytest.param("SELECT Id FROM Opportunity ORDER BY Name OFFSET 4", 1, id="offset"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE CreatedDate = TODAY", 5, id="today-sandbox-clock"
        ),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE CreatedDate < LAST_N_DAYS:3", 0, id="n-days"
        ),
    ],
)
def test_total_size(
    org: SalesforceOrg, sf: Salesforce, clock: Clock, soql: str, expected: int
) -> None:
    """totalSize counts the whole result (COUNT(), LIMIT, OFFSET, dates on the sandbox clock)."""
    seed(org, 5)
    answer = sf.query(soql)
    assert answer["totalSize"] == expected
    assert answer["done"] is True
    if "COUNT()" in soql:
        assert answer["records"] == []


@pytest.mark.parametrize(
    "name",
    [
        pytest.param('O\'Brien \\ "x"', id="quote-backslash-doublequote"),
        pytest.param("it's", id="apostrophe"),
        pytest.param("back\\slash", id="backslash"),
        pytest.param("percent % and _", id="like-wildcards"),
        pytest.param("new\nline\ttab", id="control-characters"),
        pytest.param("ünïcödé ✓", id="unicode"),
    ],
)
def test_quoted_values_round_trip(org: SalesforceOrg, sf: Salesforce, name: str) -> None:
    """A value with quotes and backslashes is found through format_soql, and only it."""
    target = org.insert("Opportunity", opportunity(Name=name))
    org.insert("Opportunity", opportunity(Name="other"))
    found = sf.query(format_soql("SELECT Id, Name FROM Opportunity WHERE Name = {}", name))
    assert [(r["Id"], r["Name"]) for r in found["records"]] == [(target, name)]
    liked = sf.query(format_soql("SELECT Id FROM Opportunity WHERE Name LIKE '{:like}'", name))
    assert [r["Id"] for r in liked["records"]] == [target]


def test_incremental_read_by_modstamp(org: SalesforceOrg, sf: Salesforce, clock: Clock) -> None:
    """SystemModstamp >= a format_soql datetime, ordered by SystemModstamp, Id, is exact."""
    early, late = seed(org, 2)
    clock.tick(days=1)
    org.update("Opportunity", late, {"Name": "touched"})
    rows = sf.query(format_soql(
        "SELECT Id, Name FROM Opportunity WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id",
        T0 + timedelta(hours=23)))["records"]  # fmt: skip
    assert [r["Id"] for r in rows] == [late]
    assert early not in {r["Id"] for r in rows}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        pytest.param({"q": "SELECT Id FORM Opportunity"}, "MALFORMED_QUERY", id="typo"),
        pytest.param(
            {"q": "SELECT Id FROM Opportunity WHERE Name = 'x"},
            "MALFORMED_QUERY",
            id="unterminated",
        ),
        pytest.param(
            {"q": "SELECT Id FROM Opportunity; DELETE"}, "MALFORMED_QUERY", id="trailing-garbage"
        ),
        pytest.param({"q": "SELECT Nope__c FROM Opportunity"}, "INVALID_FIELD", id="unknown-field"),
        pytest.param(
            {"q": "SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'"},
            "INVALID_FIELD",
            id="quoted-date",
        ),
        pytest.param({"q": "SELECT Id FROM Widget__c"}, "INVALID_TYPE", id="unknown-object"),
        pytest.param(
            {"q": "SELECT Id FROM Opportunity OFFSET 2001"},
            "NUMBER_OUTSIDE_VALID_RANGE",
            id="offset-too-far",
        ),
        pytest.param({"q": "  "}, "MALFORMED_QUERY", id="blank"),
        pytest.param({}, "MALFORMED_QUERY", id="missing-q"),
    ],
)
def test_bad_queries_are_400_with_the_code(
    sf: Salesforce, params: dict[str, str], code: str
) -> None:
    """Bad SOQL is a 400 (SalesforceMalformedRequest) with Salesforce's error code."""
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("query/", params=params)
    assert code_of(info.value) == code


@pytest.mark.parametrize(
    "path", [pytest.param("query", id="no-slash"), pytest.param("queryAll", id="queryAll-no-slash")]
)
def test_query_without_trailing_slash(org: SalesforceOrg, sf: Salesforce, path: str) -> None:
    """/query and /queryAll answer without the trailing slash simple-salesforce adds."""
    seed(org, 3)
    answer = sf.restful(path, params={"q": "SELECT Id FROM Opportunity"})
    assert answer["totalSize"] == 3


def test_cursors_expire(org: SalesforceOrg, sf: Salesforce) -> None:
    """Only the most recent cursors stay open; an expired or unknown one is INVALID_QUERY_LOCATOR."""
    seed(org, 201)
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Id FROM Opportunity", headers=headers)
    again = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert len(again["records"]) == 1
    assert sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)["done"]  # re-readable
    for _ in range(MAX_CURSORS):
        sf.query("SELECT Id FROM Opportunity", headers=headers)
    for locator in (first["nextRecordsUrl"], "/services/data/v59.0/query/01gSANDBOX-2000"):
        with pytest.raises(SalesforceMalformedRequest) as info:
            sf.query_more(locator, identifier_is_url=True)
        assert code_of(info.value) == "INVALID_QUERY_LOCATOR"


def test_cursor_serves_rows_matched_at_query_time(
    org: SalesforceOrg, sf: Salesforce, sandbox: Sandbox
) -> None:
    """Rows inserted after the query started do not shift the pages being read."""
    seed(org, 2_500)
    first = sf.query("SELECT Id FROM Opportunity ORDER BY Name")
    seed(org, 10)
    rest = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert (rest["totalSize"], len(rest["records"])) == (2_500, 500)


def test_relationship_to_deleted_parent_is_null(org: SalesforceOrg, sf: Salesforce) -> None:
    """A reference to a record in the recycle bin renders as null, as a cleared lookup."""
    account = org.insert("Account", {"Name": "Gone"})
    org.insert("Opportunity", opportunity(AccountId=account))
    org.delete("Account", account)
    record: dict[str, Any] = sf.query("SELECT Account.Name FROM Opportunity")["records"][0]
    assert record["Account"] is None
