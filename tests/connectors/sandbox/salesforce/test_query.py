"""Salesforce query / queryAll through simple-salesforce: paging, SOQL, errors, quoting."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest
from simple_salesforce.format import format_soql

from connectors.sandbox.core import Sandbox

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def opportunities(sandbox: Sandbox, n: int, **extra: object) -> list[str]:
    return sandbox.salesforce.insert_many(
        "Opportunity",
        ({"Name": f"Deal {i:05d}", "StageName": "Prospecting", "CloseDate": date(2026, 6, 30),
          "Amount": 100 + i, **extra} for i in range(n)),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("count", "batch", "pages"),
    [
        pytest.param(2_000, None, 1, id="exactly-2000-one-page"),
        pytest.param(2_001, None, 2, id="2001-two-pages"),
        pytest.param(450, 200, 3, id="batch-size-200"),
        pytest.param(0, None, 1, id="empty"),
    ],
)
def test_query_paging(
    sandbox: Sandbox, sf: Salesforce, count: int, batch: int | None, pages: int
) -> None:
    """Pages hold 2,000 rows (or batchSize); nextRecordsUrl chains them; totalSize is whole."""
    opportunities(sandbox, count)
    headers = {"Sforce-Query-Options": f"batchSize={batch}"} if batch else {}
    first = sf.query("SELECT Id, Name FROM Opportunity ORDER BY Name", headers=headers)
    seen, calls, page = list(first["records"]), 1, first
    assert first["totalSize"] == count
    while not page["done"]:
        page = sf.query_more(page["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        seen.extend(page["records"])
        calls += 1
    assert calls == pages
    assert "nextRecordsUrl" not in page
    assert [r["Name"] for r in seen] == [f"Deal {i:05d}" for i in range(count)]
    assert all(r["attributes"]["type"] == "Opportunity" for r in seen)


def test_query_all_iter_reads_everything(sandbox: Sandbox, sf: Salesforce) -> None:
    """query_all_iter walks every page."""
    opportunities(sandbox, 4_100)
    assert sum(1 for _ in sf.query_all_iter("SELECT Id FROM Opportunity")) == 4_100


def test_query_all_sees_deleted(sandbox: Sandbox, sf: Salesforce) -> None:
    """query hides soft-deleted rows; queryAll shows them with IsDeleted true."""
    ids = opportunities(sandbox, 3)
    sandbox.salesforce.delete("Opportunity", ids[0])
    live = sf.query("SELECT Id, IsDeleted FROM Opportunity")["records"]
    everything = sf.query_all("SELECT Id, IsDeleted FROM Opportunity", include_deleted=True)
    assert {r["Id"] for r in live} == set(ids[1:])
    assert {r["Id"]: r["IsDeleted"] for r in everything["records"]} == {
        ids[0]: True,
        ids[1]: False,
        ids[2]: False,
    }


def test_relationships_values_and_count(sandbox: Sandbox, sf: Salesforce) -> None:
    """Relationship paths render as nested objects (or null); values as Salesforce sends them."""
    account = sandbox.salesforce.insert("Account", {"Name": "Globex", "Website": "globex.example"})
    org = sandbox.salesforce
    with_account = org.insert("Opportunity", {"Name": "A", "StageName": "Closed Won", "CloseDate":
                              date(2026, 1, 31), "AccountId": account, "Amount": 1234.5,
                              "SystemModstamp": NOW})  # fmt: skip
    org.insert(
        "Opportunity", {"Name": "B", "StageName": "Prospecting", "CloseDate": date(2026, 2, 1)}
    )
    rows = sf.query(
        "SELECT Name, Amount, CloseDate, IsWon, SystemModstamp, Account.Name, account.website "
        "FROM Opportunity ORDER BY Name"
    )["records"]
    first, second = rows
    assert first["Account"]["Name"] == "Globex"
    assert first["Account"]["Website"] == "globex.example"
    assert first["Account"]["attributes"]["type"] == "Account"
    assert (first["Amount"], first["CloseDate"], first["IsWon"]) == (1234.5, "2026-01-31", True)
    assert first["SystemModstamp"] == "2026-03-01T12:00:00.000+0000"
    assert first["attributes"]["url"].endswith(f"/sobjects/Opportunity/{with_account}")
    assert second["Account"] is None
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")["totalSize"] == 1


@pytest.mark.parametrize(
    "name",
    ['O\'Brien \\ "x"', "it's", "back\\slash", "percent % and _", "new\nline", "ünïcödé ✓"],
)
def test_quoted_values_round_trip(sandbox: Sandbox, sf: Salesforce, name: str) -> None:
    """A value with quotes and backslashes is found through format_soql, and only it."""
    org = sandbox.salesforce
    target = org.insert("Opportunity", {"Name": name, "StageName": "Prospecting",
                                        "CloseDate": date(2026, 1, 1)})  # fmt: skip
    org.insert(
        "Opportunity", {"Name": "other", "StageName": "Prospecting", "CloseDate": date(2026, 1, 1)}
    )
    found = sf.query(format_soql("SELECT Id, Name FROM Opportunity WHERE Name = {}", name))
    assert [(r["Id"], r["Name"]) for r in found["records"]] == [(target, name)]


def test_incremental_read_by_modstamp(sandbox: Sandbox, sf: Salesforce) -> None:
    """SystemModstamp >= a format_soql datetime, ordered by SystemModstamp, Id, is exact."""
    org = sandbox.salesforce
    early = org.insert("Opportunity", {"Name": "early", "StageName": "Prospecting",
                                       "CloseDate": date(2026, 1, 1), "SystemModstamp": NOW})  # fmt: skip
    sandbox.clock = lambda: datetime(2026, 3, 2, tzinfo=UTC)
    org.update("Opportunity", early, {"Name": "touched"})
    rows = sf.query(format_soql(
        "SELECT Id, Name FROM Opportunity WHERE SystemModstamp >= {} ORDER BY SystemModstamp, Id",
        datetime(2026, 3, 1, 23, tzinfo=UTC)))["records"]  # fmt: skip
    assert [r["Name"] for r in rows] == ["touched"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        pytest.param("SELECT Id FORM Opportunity", "MALFORMED_QUERY", id="typo"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = 'x", "MALFORMED_QUERY", id="unterminated"
        ),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = '' OR Name != ''; DELETE",
            "MALFORMED_QUERY",
            id="injection-tail",
        ),
        pytest.param("SELECT Nope__c FROM Opportunity", "INVALID_FIELD", id="unknown-field"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-01'",
            "INVALID_FIELD",
            id="quoted-date",
        ),
        pytest.param("SELECT Id FROM Widget__c", "INVALID_TYPE", id="unknown-object"),
        pytest.param("", "MALFORMED_QUERY", id="empty"),
    ],
)
def test_bad_queries_are_400_with_the_code(
    sandbox: Sandbox, sf: Salesforce, soql: str, code: str
) -> None:
    """Malformed SOQL is a 400 with Salesforce's error code, never a 500."""
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query(soql) if soql else sf.restful("query/", params={"q": ""})
    assert info.value.content[0]["errorCode"] == code


def test_expired_cursor(sandbox: Sandbox, sf: Salesforce) -> None:
    """An unknown query locator is INVALID_QUERY_LOCATOR."""
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query_more("01gSANDBOX99999999-2000")
    assert info.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
