"""The org's Python API (seeder and tests) and Salesforce ids, without HTTP."""

from __future__ import annotations

import tracemalloc
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from sandbox.salesforce.ids import IdFactory, case_safe_id, parse_id
from sandbox.salesforce.objects import OPPORTUNITY, SCHEMA
from sandbox.salesforce.org import SalesforceOrg
from tests.sandbox.salesforce.helpers import T0, Clock, opportunity, seed


@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        pytest.param("001A0000006Vm9r", "001A0000006Vm9rIAC", id="mixed-case"),
        pytest.param("003000000000000", "003000000000000AAA", id="digits-only"),
        pytest.param("006ABCDEABCDEAB", "006ABCDEABCDEABY55", id="upper-runs"),
    ],
)
def test_case_safe_checksum(id15: str, id18: str) -> None:
    """The 18-character id appends Salesforce's case-safety checksum."""
    assert case_safe_id(id15) == id18


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("001A0000006Vm9r", "001A0000006Vm9rIAC", id="15-chars"),
        pytest.param("001A0000006Vm9rIAC", "001A0000006Vm9rIAC", id="18-chars"),
        pytest.param("001a0000006vm9riac", "001A0000006Vm9rIAC", id="18-case-folded-restored"),
        pytest.param("001A0000006VM9RIAC", "001A0000006Vm9rIAC", id="18-upper-restored"),
        pytest.param("001A0000006Vm9", None, id="14-chars"),
        pytest.param("001A0000006Vm9rIA", None, id="17-chars"),
        pytest.param("001A0000006Vm9r!AC", None, id="punctuation"),
        pytest.param("001000000000000999", None, id="suffix-names-digits-upper"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_id(raw: str, expected: str | None) -> None:
    """15- and 18-character ids are accepted (case restored from the suffix); others are not."""
    assert parse_id(raw) == expected


def test_new_ids_are_prefixed_unique_and_checksummed() -> None:
    """Generated ids carry the key prefix, 18 characters and a valid checksum."""
    new_id = IdFactory("006")
    ids = [new_id() for _ in range(5_000)]
    assert len(set(ids)) == 5_000
    assert all(i.startswith("006") and len(i) == 18 and parse_id(i) == i for i in ids)


def test_insert_types_defaults_and_derived(org: SalesforceOrg, clock: Clock) -> None:
    """insert stores typed values, defaults system fields to now and derives stage fields."""
    account = org.insert("Account", {"Name": "Globex"})
    record_id = org.insert(
        "Opportunity",
        opportunity(AccountId=account[:15], Amount=Decimal("1234.50"), StageName="Closed Won"),
    )
    row = org.get("Opportunity", record_id)
    assert row is not None
    assert record_id.startswith("006")
    assert row["AccountId"] == account  # a 15-character reference is stored as 18
    assert row["Amount"] == 1234.5
    assert (row["IsClosed"], row["IsWon"], row["Probability"]) == (True, True, 100.0)
    assert row["ForecastCategoryName"] == "Closed"
    assert row["CreatedDate"] == row["LastModifiedDate"] == row["SystemModstamp"] == T0
    assert (row["IsDeleted"], row["CurrencyIsoCode"]) == (False, "USD")
    assert row["OwnerId"].startswith("005")


def test_explicit_timestamps_are_kept_at_milliseconds(org: SalesforceOrg) -> None:
    """Seeded timestamps are kept, in UTC, cut to milliseconds; later ones default to earlier."""
    paris = timezone(timedelta(hours=1))
    created = datetime(2025, 1, 1, 13, 0, 0, 123456, tzinfo=paris)
    record_id = org.insert("Opportunity", opportunity(CreatedDate=created))
    row = org.get("Opportunity", record_id)
    assert row is not None
    expected = datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert row["CreatedDate"] == row["LastModifiedDate"] == row["SystemModstamp"] == expected
    assert row["SystemModstamp"].tzinfo is UTC


def test_update_and_delete_bump_timestamps(org: SalesforceOrg, clock: Clock) -> None:
    """update and delete move LastModifiedDate and SystemModstamp to now; delete is soft."""
    record_id = org.insert("Opportunity", opportunity())
    clock.tick(minutes=5)
    org.update("Opportunity", record_id, {"StageName": "Negotiation/Review"})
    row = org.get("Opportunity", record_id)
    assert row is not None
    assert row["SystemModstamp"] == row["LastModifiedDate"] == T0 + timedelta(minutes=5)
    assert row["CreatedDate"] == T0
    assert row["Probability"] == 90.0  # a new stage resets the probability
    clock.tick(minutes=5)
    org.delete("Opportunity", record_id)
    gone = org.get("Opportunity", record_id)
    assert gone is not None
    assert gone["IsDeleted"] is True
    assert gone["SystemModstamp"] == T0 + timedelta(minutes=10)
    assert (org.count(), org.count(include_deleted=True)) == (0, 1)
    assert org.records("Opportunity") == []
    assert [r["Id"] for r in org.records("Opportunity", include_deleted=True)] == [record_id]


def test_update_may_set_timestamps(org: SalesforceOrg, clock: Clock) -> None:
    """An update that sets SystemModstamp itself keeps it (a formula-like silent change)."""
    record_id = org.insert("Opportunity", opportunity())
    clock.tick(days=1)
    org.update("Opportunity", record_id, {"Description": "quiet", "SystemModstamp": T0})
    row = org.get("Opportunity", record_id)
    assert row is not None
    assert (row["SystemModstamp"], row["LastModifiedDate"]) == (T0, clock.now)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda o: o.insert("Widget__c", {}), KeyError, id="unknown-object"),
        pytest.param(
            lambda o: o.insert("Opportunity", {"Nope__c": 1}), KeyError, id="unknown-field"
        ),
        pytest.param(
            lambda o: o.insert("Opportunity", {"Id": "006"}), KeyError, id="id-not-settable"
        ),
        pytest.param(
            lambda o: o.insert("Opportunity", {"Amount": "12"}), TypeError, id="str-for-number"
        ),
        pytest.param(
            lambda o: o.insert("Opportunity", {"CloseDate": "2026-01-01"}),
            TypeError,
            id="str-for-date",
        ),
        pytest.param(
            lambda o: o.insert("Opportunity", {"SystemModstamp": datetime(2026, 1, 1)}),
            ValueError,
            id="naive-datetime",
        ),
        pytest.param(
            lambda o: o.update("Opportunity", "006000000000000", {"Name": "x"}),
            KeyError,
            id="update-unknown-record",
        ),
        pytest.param(lambda o: o.delete("Opportunity", "junk"), KeyError, id="delete-malformed-id"),
    ],
)
def test_python_api_refuses_bad_input(
    org: SalesforceOrg, call: Any, error: type[Exception]
) -> None:
    """The Python API raises KeyError / TypeError / ValueError instead of storing nonsense."""
    with pytest.raises(error):
        call(org)


def test_get_unknown_or_malformed_is_none(org: SalesforceOrg) -> None:
    """get answers None for malformed, unknown and other objects' ids."""
    account = org.insert("Account", {"Name": "A"})
    assert org.get("Opportunity", "not-an-id") is None
    assert org.get("Opportunity", "006000000000000") is None
    assert org.get("Opportunity", account) is None
    assert org.get("account", account.lower()) is not None  # names and id case are forgiven


def test_insert_many_is_all_or_nothing(org: SalesforceOrg) -> None:
    """A refused row in insert_many stores none of the rows."""
    with pytest.raises(TypeError):
        org.insert_many("Opportunity", [opportunity(0), opportunity(1, Amount="x")])
    assert org.count(include_deleted=True) == 0


def test_schema_resolves_names_case_insensitively() -> None:
    """The SOQL Schema protocol: canonical object and field names, relationship paths."""
    assert SCHEMA.object_name("opportunity") == "Opportunity"
    assert SCHEMA.object_name("Widget__c") is None
    assert SCHEMA.field("Opportunity", ("amount",)) == (("Amount",), "currency")
    assert SCHEMA.field("Opportunity", ("account", "name")) == (("Account", "Name"), "string")
    assert SCHEMA.field("Opportunity", ("partner_account__r", "partner_tier__c")) == (
        ("Partner_Account__r", "Partner_Tier__c"),
        "picklist",
    )
    assert SCHEMA.field("Opportunity", ("Account", "Nope")) is None
    assert SCHEMA.field("Opportunity", ("AccountId", "Name")) is None


def test_rows_are_compact(org: SalesforceOrg) -> None:
    """Records are stored as one value list each, far below a dict per record."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    seed(org, 2_000, CreatedDate=T0, LastModifiedDate=T0, SystemModstamp=T0)
    per_record = (tracemalloc.get_traced_memory()[0] - before) / 2_000
    tracemalloc.stop()
    assert per_record < 700, per_record  # a dict of every field alone is ~1,200 bytes
    row = org.table("Opportunity").rows[org.records("Opportunity")[0]["Id"]]
    assert isinstance(row, list)
    assert len(row) == len(OPPORTUNITY.fields)


def test_every_record_date_is_a_date(org: SalesforceOrg) -> None:
    """Dates stay dates (never datetimes) after a round trip through the Python API."""
    record_id = org.insert("Opportunity", opportunity(Paid_Date__c=date(2026, 2, 3)))
    row = org.get("Opportunity", record_id)
    assert row is not None
    assert type(row["Paid_Date__c"]) is date
