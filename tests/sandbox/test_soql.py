"""Tests for the sandbox SOQL engine: parsing, checking against a schema, evaluation."""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from sandbox.soql import (
    And,
    Compare,
    CompiledQuery,
    Condition,
    FieldPath,
    In,
    Like,
    Not,
    Or,
    OrderItem,
    Query,
    RelativeDate,
    SoqlError,
    compile_query,
    parse,
    tokenize,
)

UTC = dt.UTC

FIELDS: dict[str, dict[str, str]] = {
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "StageName": "picklist",
        "Description": "textarea",
        "Amount": "currency",
        "Probability": "percent",
        "TotalOpportunityQuantity": "double",
        "Quantity__c": "int",
        "IsClosed": "boolean",
        "CloseDate": "date",
        "SystemModstamp": "datetime",
        "AccountId": "reference",
    },
    "Account": {"Id": "id", "Name": "string", "Website": "url", "Industry": "picklist"},
}
RELATIONS = {("Opportunity", "account"): "Account"}


class FakeSchema:
    """Two objects; Opportunity.Account points to Account."""

    def object_name(self, name: str) -> str | None:
        return next((o for o in FIELDS if o.lower() == name.lower()), None)

    def field(self, sobject: str, path: FieldPath) -> tuple[FieldPath, str] | None:
        if len(path) == 2:
            target = RELATIONS.get((sobject, path[0].lower()))
            rest = None if target is None else self.field(target, path[1:])
            return None if rest is None else (("Account", *rest[0]), rest[1])
        for name, ftype in FIELDS[sobject].items():
            if len(path) == 1 and name.lower() == path[0].lower():
                return (name,), ftype
        return None


SCHEMA = FakeSchema()


def get(record: dict[str, Any], path: FieldPath) -> Any:
    value: Any = record
    for part in path:
        if value is None:
            return None
        value = value.get(part)
    return value


RECORDS: list[dict[str, Any]] = [
    {
        "Id": "006A",
        "Name": "Acme Deal",
        "StageName": "Prospecting",
        "Amount": 1000,
        "Probability": 10.0,
        "TotalOpportunityQuantity": 0.1,
        "Quantity__c": 3,
        "IsClosed": False,
        "CloseDate": dt.date(2024, 1, 31),
        "SystemModstamp": dt.datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
        "Account": {"Name": "Acme", "Website": "acme.example", "Industry": "Energy"},
    },
    {
        "Id": "006B",
        "Name": "beta 50% off",
        "StageName": "Closed Won",
        "Amount": Decimal("2500.50"),
        "Probability": 100.0,
        "TotalOpportunityQuantity": 2.5,
        "Quantity__c": 7,
        "IsClosed": True,
        "CloseDate": dt.date(2024, 3, 1),
        "SystemModstamp": dt.datetime(2024, 2, 1, 9, 30, tzinfo=UTC),
        "Account": {"Name": "Beta Corp", "Website": None, "Industry": None},
    },
    {
        "Id": "006C",
        "Name": "gamma_it's",
        "StageName": "Closed Lost",
        "Amount": None,
        "Probability": None,
        "TotalOpportunityQuantity": None,
        "Quantity__c": None,
        "IsClosed": True,
        "CloseDate": None,
        "SystemModstamp": dt.datetime(2024, 3, 1, 0, 0, tzinfo=UTC),
        "Account": None,
    },
]
NOW = dt.datetime(2024, 3, 1, 10, 0, tzinfo=UTC)


def ids(soql: str, records: list[dict[str, Any]] | None = None, **kw: Any) -> list[str]:
    compiled = compile_query(parse(soql), SCHEMA)
    return [r["Id"] for r in compiled.run(RECORDS if records is None else records, get, **kw)]


def where_ids(clause: str, **kw: Any) -> list[str]:
    return ids(f"SELECT Id FROM Opportunity WHERE {clause}", **kw)


def where_of(clause: str) -> Condition | None:
    return parse(f"SELECT Id FROM Opportunity WHERE {clause}").where


def error_of(call: Callable[[], object]) -> SoqlError:
    with pytest.raises(SoqlError) as info:
        call()
    return info.value


# --- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("soql", "expected"),
    [
        pytest.param(
            "SELECT Id, Name FROM Opportunity",
            Query("Opportunity", (("Id",), ("Name",)), False, None, (), None, None),
            id="plain",
        ),
        pytest.param(
            "select id, account.name from opportunity limit 5 offset 2",
            Query("opportunity", (("id",), ("account", "name")), False, None, (), 5, 2),
            id="lowercase-relationship-limit-offset",
        ),
        pytest.param(
            "SELECT COUNT() FROM Opportunity WHERE IsClosed = true",
            Query("Opportunity", (), True, Compare(("IsClosed",), "=", True), (), None, None),
            id="count",
        ),
        pytest.param(
            "SELECT count ( ) FROM Opportunity LIMIT 0",
            Query("Opportunity", (), True, None, (), 0, None),
            id="count-spaced",
        ),
        pytest.param(
            "  SELECT\n\tId\r\nFROM  Opportunity  ",
            Query("Opportunity", (("Id",),), False, None, (), None, None),
            id="whitespace",
        ),
        pytest.param(
            "SELECT Count, Order__c FROM Order ORDER BY Order__c",
            Query(
                "Order",
                (("Count",), ("Order__c",)),
                False,
                None,
                (OrderItem(("Order__c",)),),
                None,
                None,
            ),
            id="keyword-like-names",
        ),
    ],
)
def test_parse_query(soql: str, expected: Query) -> None:
    """The parse tree carries object, fields, COUNT flag, WHERE, ORDER BY, LIMIT, OFFSET."""
    assert parse(soql) == expected


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        pytest.param("Name = 'x'", Compare(("Name",), "=", "x"), id="eq"),
        pytest.param("Name != 'x'", Compare(("Name",), "!=", "x"), id="ne"),
        pytest.param("Name <> 'x'", Compare(("Name",), "!=", "x"), id="ne-angle"),
        pytest.param("Amount<5", Compare(("Amount",), "<", Decimal(5)), id="lt-no-spaces"),
        pytest.param("Amount <= 5.25", Compare(("Amount",), "<=", Decimal("5.25")), id="le"),
        pytest.param("Amount > -5", Compare(("Amount",), ">", Decimal(-5)), id="gt-negative"),
        pytest.param("Amount >= 1e-05", Compare(("Amount",), ">=", Decimal("1e-5")), id="ge-exp"),
        pytest.param("Amount = .5", Compare(("Amount",), "=", Decimal("0.5")), id="leading-dot"),
        pytest.param("IsClosed = TRUE", Compare(("IsClosed",), "=", True), id="true"),
        pytest.param("IsClosed = false", Compare(("IsClosed",), "=", False), id="false"),
        pytest.param("Amount = NULL", Compare(("Amount",), "=", None), id="null"),
        pytest.param("Amount != null", Compare(("Amount",), "!=", None), id="not-null"),
        pytest.param(
            "CloseDate = 2024-01-31",
            Compare(("CloseDate",), "=", dt.date(2024, 1, 31)),
            id="date",
        ),
        pytest.param(
            "SystemModstamp > 2024-01-31T10:00:00Z",
            Compare(("SystemModstamp",), ">", dt.datetime(2024, 1, 31, 10, tzinfo=UTC)),
            id="datetime-z",
        ),
        pytest.param(
            "SystemModstamp > 2024-01-31T10:00:00+01:00",
            Compare(("SystemModstamp",), ">", dt.datetime(2024, 1, 31, 9, tzinfo=UTC)),
            id="datetime-offset-colon",
        ),
        pytest.param(
            "SystemModstamp > 2024-01-31T10:00:00-0800",
            Compare(("SystemModstamp",), ">", dt.datetime(2024, 1, 31, 18, tzinfo=UTC)),
            id="datetime-offset-compact",
        ),
        pytest.param(
            "SystemModstamp > 2024-01-31T10:00:00.123Z",
            Compare(("SystemModstamp",), ">", dt.datetime(2024, 1, 31, 10, 0, 0, 123000, UTC)),
            id="datetime-millis",
        ),
        pytest.param(
            "CloseDate = TODAY", Compare(("CloseDate",), "=", RelativeDate("TODAY")), id="today"
        ),
        pytest.param(
            "CloseDate < last_n_days:30",
            Compare(("CloseDate",), "<", RelativeDate("LAST_N_DAYS", 30)),
            id="last-n-days",
        ),
        pytest.param("StageName IN ('a', 'B')", In(("StageName",), ("a", "B")), id="in"),
        pytest.param(
            "Amount NOT IN (1, null)",
            In(("Amount",), (Decimal(1), None), negated=True),
            id="not-in",
        ),
        pytest.param("Name LIKE 'a\\%b%'", Like(("Name",), "a\\%b%"), id="like-raw-pattern"),
        pytest.param(
            "Account.Name = 'Acme'", Compare(("Account", "Name"), "=", "Acme"), id="relationship"
        ),
        pytest.param("NOT Name = 'x'", Not(Compare(("Name",), "=", "x")), id="not"),
        pytest.param(
            "Name = 'a' AND Amount > 1 and IsClosed = true",
            And(
                (
                    Compare(("Name",), "=", "a"),
                    Compare(("Amount",), ">", Decimal(1)),
                    Compare(("IsClosed",), "=", True),
                )
            ),
            id="and-chain",
        ),
        pytest.param(
            "Name = 'a' OR (Amount > 1 AND NOT (IsClosed = true))",
            Or(
                (
                    Compare(("Name",), "=", "a"),
                    And(
                        (
                            Compare(("Amount",), ">", Decimal(1)),
                            Not(Compare(("IsClosed",), "=", True)),
                        )
                    ),
                )
            ),
            id="or-with-nested-and",
        ),
        pytest.param("((Name = 'a'))", Compare(("Name",), "=", "a"), id="redundant-parens"),
    ],
)
def test_parse_where(clause: str, expected: Condition) -> None:
    """Each WHERE construct parses to the expected condition tree."""
    assert where_of(clause) == expected


def test_parse_order_by_defaults() -> None:
    """ASC defaults to NULLS FIRST, DESC to NULLS LAST, and both can be overridden."""
    query = parse(
        "SELECT Id FROM Opportunity ORDER BY Name, Amount DESC, Id ASC NULLS LAST, "
        "CloseDate desc nulls first"
    )
    assert query.order_by == (
        OrderItem(("Name",), descending=False, nulls_last=False),
        OrderItem(("Amount",), descending=True, nulls_last=True),
        OrderItem(("Id",), descending=False, nulls_last=True),
        OrderItem(("CloseDate",), descending=True, nulls_last=False),
    )


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        pytest.param(r"'a\'b'", "a'b", id="quote"),
        pytest.param(r"'a\"b'", 'a"b', id="double-quote"),
        pytest.param(r"'a\\b'", "a\\b", id="backslash"),
        pytest.param(r"'\n\r\t\b\f'", "\n\r\t\b\f", id="control"),
        pytest.param(r"'\u00e9\u0041'", "éA", id="unicode-escape"),
        pytest.param(r"'\uD83D\uDE00'", "\U0001f600", id="surrogate-pair"),
        pytest.param("'héllo ✓'", "héllo ✓", id="unicode"),
        pytest.param("'%_'", "%_", id="wildcards-are-plain"),
        pytest.param("''", "", id="empty"),
    ],
)
def test_string_escapes(literal: str, expected: str) -> None:
    """Escape sequences decode to the intended characters, and match only them."""
    assert where_of(f"Name = {literal}") == Compare(("Name",), "=", expected)
    records = [{"Id": "1", "Name": expected}, {"Id": "2", "Name": expected + "x"}]
    assert ids(f"SELECT Id FROM Opportunity WHERE Name = {literal}", records) == ["1"]


def test_tokenize_positions() -> None:
    """Tokens carry their kind, text and offset, ending with EOF."""
    tokens = tokenize("SELECT Id FROM X WHERE d >= 2024-01-01")
    assert [(t.kind, t.text, t.pos) for t in tokens][-4:] == [
        ("name", "d", 23),
        ("op", ">=", 25),
        ("date", "2024-01-01", 28),
        ("eof", "<EOF>", 38),
    ]


# --- malformed queries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "soql",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("SELECT", id="select-only"),
        pytest.param("SELECT Id FORM Opportunity", id="typo-keyword"),
        pytest.param("SELECT FROM Opportunity", id="no-fields"),
        pytest.param("SELECT Id, FROM Opportunity", id="trailing-comma"),
        pytest.param("SELECT Id FROM", id="no-object"),
        pytest.param("SELECT Id FROM Opportunity.Account", id="dotted-object"),
        pytest.param("SELECT Id FROM Opportunity o", id="alias"),
        pytest.param("SELECT Id FROM Opportunity WHERE", id="empty-where"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'abc", id="unterminated-string"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a\\'", id="escaped-final-quote"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a\\q'", id="unknown-escape"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a\\u12'", id="short-unicode"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a\\%'", id="like-escape-in-eq"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name IN ('\\_')", id="like-escape-in-in"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name LIKE 'a\\x'", id="like-bad-escape"),
        pytest.param("SELECT Id FROM Opportunity WHERE (Name = 'a'", id="unbalanced-open"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a')", id="unbalanced-close"),
        pytest.param("SELECT Id FROM Opportunity WHERE ((Name = 'a')", id="unbalanced-nested"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = '' OR Name != '' AND IsClosed = true",
            id="injection-mixed",
        ),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = '' OR Name != '' LIMIT 1'",
            id="injection-trailing-quote",
        ),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'x' OR Name != '", id="injection"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = '' OR Name != ''; DELETE",
            id="injection-statement",
        ),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = '' --", id="sql-comment"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = 'a' AND Id = 'b' OR Id = 'c'", id="mixed"
        ),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = 'a' OR Id = 'b' AND Id = 'c'", id="mixed-or"
        ),
        pytest.param("SELECT Id FROM Opportunity garbage", id="trailing-garbage"),
        pytest.param("SELECT Id FROM Opportunity LIMIT 5 LIMIT 6", id="double-limit"),
        pytest.param("SELECT Id FROM Opportunity;", id="semicolon"),
        pytest.param("SELECT Id FROM Opportunity LIMIT -1", id="negative-limit"),
        pytest.param("SELECT Id FROM Opportunity LIMIT 1.5", id="decimal-limit"),
        pytest.param("SELECT Id FROM Opportunity LIMIT", id="limit-without-number"),
        pytest.param("SELECT Id FROM Opportunity OFFSET 1 LIMIT 1", id="offset-before-limit"),
        pytest.param("SELECT Id FROM Opportunity LIMIT 1 ORDER BY Id", id="limit-before-order"),
        pytest.param("SELECT Id, (SELECT Id FROM Contacts) FROM Account", id="subquery"),
        pytest.param("SELECT (SELECT Id FROM Contacts) FROM Account", id="subquery-first"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE AccountId IN (SELECT Id FROM Account)",
            id="semi-join",
        ),
        pytest.param("SELECT Id FROM Opportunity WHERE (SELECT Id FROM X)", id="paren-select"),
        pytest.param("SELECT COUNT(Id) FROM Opportunity", id="count-field"),
        pytest.param("SELECT COUNT(), Id FROM Opportunity", id="count-and-field"),
        pytest.param("SELECT MAX(Amount) FROM Opportunity", id="aggregate"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE CALENDAR_YEAR(CloseDate) = 2024", id="date-func"
        ),
        pytest.param("SELECT StageName FROM Opportunity GROUP BY StageName", id="group-by"),
        pytest.param("SELECT Id FROM Opportunity HAVING COUNT() > 1", id="having"),
        pytest.param("SELECT TYPEOF What WHEN Account THEN Name END FROM Event", id="typeof"),
        pytest.param("SELECT Id FROM Opportunity FOR UPDATE", id="for-update"),
        pytest.param("SELECT Id FROM Opportunity WITH SECURITY_ENFORCED", id="with"),
        pytest.param("SELECT Id FROM Opportunity USING SCOPE mine", id="using-scope"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name INCLUDES ('a')", id="includes"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = :name", id="bind-variable"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = Name", id="field-as-value"),
        pytest.param("SELECT Id FROM Opportunity WHERE 'a' = Name", id="value-first"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name == 'a'", id="double-equals"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name IN ()", id="empty-in"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name IN ('a',)", id="in-trailing-comma"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name IN 'a'", id="in-without-parens"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name NOT LIKE 'a'", id="not-like"),
        pytest.param("SELECT Id FROM Opportunity WHERE Amount > 5abc", id="bad-number"),
        pytest.param("SELECT Id FROM Opportunity WHERE Amount > 1.2.3", id="two-dots"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = 2024-13-01", id="bad-month"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = 2024-02-30", id="bad-day"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = 2024-1-5", id="short-date"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE SystemModstamp = 2024-01-01T10:00:00",
            id="datetime-without-zone",
        ),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE SystemModstamp = 2024-01-01T25:00:00Z",
            id="bad-hour",
        ),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE SystemModstamp = 2024-01-01T10:00:00+01:75",
            id="bad-offset-minutes",
        ),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE SystemModstamp = 0001-01-01T00:00:00+01:00",
            id="before-year-one",
        ),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_DAYS", id="n-missing"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = LAST_N_DAYS:-1", id="n<0"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = NEXT_N_DAYS:x", id="n-name"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = TODAY:3", id="today-n"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = LAST_WEEK", id="unsupported"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name LIKE 5", id="like-number"),
        pytest.param("SELECT Id FROM Opportunity ORDER BY", id="empty-order"),
        pytest.param("SELECT Id FROM Opportunity ORDER Name", id="order-without-by"),
        pytest.param("SELECT Id FROM Opportunity ORDER BY Name NULLS", id="dangling-nulls"),
        pytest.param("SELECT Id FROM Opportunity ORDER BY Name ASC DESC", id="two-directions"),
        pytest.param("SELECT Id FROM Opportunity WHERE NOT", id="dangling-not"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a' #", id="stray-char"),
        pytest.param("SELECT Account. FROM Opportunity", id="trailing-dot"),
        pytest.param("SELECT Owner.Manager.Name FROM Opportunity", id="two-level-path"),
        pytest.param("SELECT Ïd FROM Opportunity", id="non-ascii-name"),
        pytest.param("SELECT Id FROM Opportunity WHERE " + "(" * 500, id="deep-parens"),
        pytest.param("SELECT Id FROM Opportunity WHERE " + "NOT " * 500, id="deep-not"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name IN ("
            + ",".join(f"'n{i}'" for i in range(20_000))
            + ",)",
            id="huge-in-list-bad-tail",
        ),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = '" + "x" * 100_000, id="huge-open"),
        pytest.param("\x00SELECT Id FROM Opportunity", id="nul-byte"),
    ],
)
def test_malformed_queries(soql: str) -> None:
    """Syntax problems always raise SoqlError MALFORMED_QUERY, never another exception."""
    error = error_of(lambda: parse(soql))
    assert error.error_code == "MALFORMED_QUERY"
    assert "ERROR at Row:" in error.message
    assert len(error.message) < 400


@pytest.mark.parametrize(
    ("soql", "fragment"),
    [
        pytest.param("SELECT Id FORM Opportunity", "unexpected token: 'FORM'", id="token"),
        pytest.param("SELECT Id FROM Opportunity WHERE", "unexpected token: '<EOF>'", id="eof"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE Name = 'a' AND Id = 'b' OR Id = 'c'",
            "unexpected token: 'OR' (use parentheses to combine AND with OR)",
            id="and-or",
        ),
        pytest.param("SELECT Id FROM X GROUP BY Id", "GROUP BY is not supported", id="group-by"),
        pytest.param("SELECT MAX(Amount) FROM X", "only SELECT COUNT() is", id="function"),
        pytest.param("SELECT Id, (SELECT Id FROM Y) FROM X", "subqueries", id="subquery"),
        pytest.param("SELECT Id FROM X WHERE Id IN (SELECT Id FROM Y)", "subqueries", id="semi"),
        pytest.param("SELECT Id FROM X;", "do not end with ';'", id="semicolon"),
        pytest.param("SELECT Id FROM X FOR UPDATE", "FOR VIEW/REFERENCE/UPDATE", id="for"),
        pytest.param("SELECT A.B.C FROM X", "one-level relationship paths", id="deep-path"),
        pytest.param("SELECT Id FROM X LIMIT -1", "non-negative integer", id="limit"),
        pytest.param(
            "SELECT Id FROM X WHERE Name = 'a\\%'",
            "Illegal character sequence '\\%' in string literal (LIKE patterns only)",
            id="like-escape",
        ),
        pytest.param(
            "SELECT Id FROM X WHERE Name = 'a\\q'",
            "Illegal character sequence '\\q'",
            id="bad-escape",
        ),
        pytest.param("SELECT Id FROM X WHERE Name = 'abc", "unterminated string", id="open"),
        pytest.param(
            "SELECT Id FROM X WHERE D = 2024-02-30", "invalid date or datetime literal", id="date"
        ),
        pytest.param(
            "SELECT Id FROM X WHERE D = 2024-02-01T10:00:00",
            "invalid date or datetime literal '2024-02-01T10:00:00'",
            id="datetime-without-zone",
        ),
        pytest.param(
            "SELECT Id FROM X WHERE Name = Name", "compare a field with a literal", id="field"
        ),
    ],
)
def test_malformed_messages(soql: str, fragment: str) -> None:
    """Syntax errors name the offending token and, for known gaps, say what is missing."""
    assert fragment in str(error_of(lambda: parse(soql)))


def test_error_position() -> None:
    """A syntax error reports Salesforce's Row:Column (1-based) and the 0-based offset."""
    soql = "SELECT Id\nFROM Opportunity\nWHERE Name = 'x' AND Id = 'y' OR Id = 'z'"
    error = error_of(lambda: parse(soql))
    assert error.message.startswith("ERROR at Row:3:Column:31\nunexpected token: 'OR'")
    assert error.position == soql.index("OR")
    assert str(error) == error.message


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        pytest.param(
            "SELECT Id FROM Opportunity OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", id="offset"
        ),
        pytest.param(
            "SELECT Id FROM Opportunity LIMIT 99999999999", "NUMBER_OUTSIDE_VALID_RANGE", id="limit"
        ),
    ],
)
def test_number_outside_valid_range(soql: str, code: str) -> None:
    """OFFSET above 2000 and absurd LIMITs are NUMBER_OUTSIDE_VALID_RANGE."""
    assert error_of(lambda: parse(soql)).error_code == code


def test_offset_limits() -> None:
    """OFFSET 2000 is the largest accepted, with Salesforce's message beyond it."""
    assert parse("SELECT Id FROM Opportunity OFFSET 2000").offset == 2000
    error = error_of(lambda: parse("SELECT Id FROM Opportunity OFFSET 2001"))
    assert error.message == "Maximum SOQL offset allowed is 2000"


# --- checking against the schema ----------------------------------------------------------


def test_compile_canonicalizes_select() -> None:
    """SELECT paths become canonical, duplicates are dropped and order is kept."""
    compiled = compile_query(
        parse(
            "SELECT name, ID, Name, account.name FROM opportunity "
            "ORDER BY account.NAME DESC LIMIT 3 OFFSET 1"
        ),
        SCHEMA,
    )
    assert isinstance(compiled, CompiledQuery)
    assert compiled.sobject == "Opportunity"
    assert compiled.select == (("Name",), ("Id",), ("Account", "Name"))
    assert compiled.order_by == (OrderItem(("Account", "Name"), True, True),)
    assert (compiled.count_only, compiled.limit, compiled.offset) == (False, 3, 1)


@pytest.mark.parametrize(
    ("soql", "message"),
    [
        pytest.param("SELECT Foo FROM Opportunity", "No such column 'Foo'", id="select"),
        pytest.param("SELECT Id FROM Opportunity WHERE Foo = 'x'", "No such column", id="where"),
        pytest.param("SELECT Id FROM Opportunity WHERE Foo IN ('x')", "No such column", id="in"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE NOT Foo LIKE 'x'", "No such column", id="like"
        ),
        pytest.param("SELECT Id FROM Opportunity ORDER BY Foo", "No such column", id="order"),
        pytest.param(
            "SELECT Account.Foo FROM Opportunity",
            "No such column 'Foo' on entity 'Account'",
            id="related-field",
        ),
        pytest.param(
            "SELECT Owner.Name FROM Opportunity",
            "Didn't understand relationship 'Owner' in field path. If you are attempting to "
            "use a custom relationship, be sure to append the '__r'",
            id="relationship",
        ),
    ],
)
def test_unknown_field(soql: str, message: str) -> None:
    """Unknown fields and relationships anywhere are INVALID_FIELD with Salesforce's words."""
    error = error_of(lambda: compile_query(parse(soql), SCHEMA))
    assert error.error_code == "INVALID_FIELD"
    assert message in error.message


def test_unknown_field_message() -> None:
    """The unknown-column message is Salesforce's, word for word."""
    error = error_of(lambda: compile_query(parse("SELECT Foo FROM Opportunity"), SCHEMA))
    assert error.message == (
        "No such column 'Foo' on entity 'Opportunity'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name. Please reference your "
        "WSDL or the describe call for the appropriate names."
    )


def test_unknown_object() -> None:
    """An unknown sObject is INVALID_TYPE with Salesforce's message."""
    error = error_of(lambda: compile_query(parse("SELECT Id FROM Foo"), SCHEMA))
    assert error.error_code == "INVALID_TYPE"
    assert error.message.startswith("sObject type 'Foo' is not supported. If you are attempting")


@pytest.mark.parametrize(
    ("clause", "message"),
    [
        pytest.param(
            "CloseDate = '2024-01-31'",
            "value of filter criterion for field 'CloseDate' must be of type date "
            "and should not be enclosed in quotes",
            id="quoted-date",
        ),
        pytest.param(
            "SystemModstamp > '2024-01-01T00:00:00Z'",
            "field 'SystemModstamp' must be of type dateTime and should not be enclosed",
            id="quoted-datetime",
        ),
        pytest.param("Amount = '5'", "'Amount' must be of type double", id="quoted-number"),
        pytest.param("IsClosed = 'true'", "'IsClosed' must be of type boolean", id="quoted-bool"),
        pytest.param(
            "Name = 2024-01-31",
            "'Name' must be of type string and should be enclosed in quotes",
            id="date-vs-text",
        ),
        pytest.param("Name = 5", "'Name' must be of type string", id="number-vs-text"),
        pytest.param("Name = true", "'Name' must be of type string", id="boolean-vs-text"),
        pytest.param("Name = TODAY", "'Name' must be of type string", id="relative-vs-text"),
        pytest.param("Amount = TODAY", "'Amount' must be of type double", id="relative-vs-num"),
        pytest.param(
            "CloseDate = 2024-01-31T00:00:00Z", "'CloseDate' must be of type date", id="dt-vs-d"
        ),
        pytest.param(
            "SystemModstamp = 2024-01-31", "must be of type dateTime", id="date-vs-datetime"
        ),
        pytest.param("Amount IN (1, '2')", "'Amount' must be of type double", id="in-mixed"),
        pytest.param("IsClosed = 1", "'IsClosed' must be of type boolean", id="number-vs-bool"),
        pytest.param("Amount LIKE '1%'", "invalid operator on field 'Amount'", id="like-number"),
        pytest.param("CloseDate LIKE '2024%'", "invalid operator on field", id="like-date"),
        pytest.param("Account.Name = 5", "field 'Name' must be of type string", id="related"),
    ],
)
def test_type_mismatch(clause: str, message: str) -> None:
    """A literal of the wrong type for its field is INVALID_FIELD naming field and type."""
    query = parse(f"SELECT Id FROM Opportunity WHERE {clause}")
    error = error_of(lambda: compile_query(query, SCHEMA))
    assert error.error_code == "INVALID_FIELD"
    assert message in error.message


# --- evaluation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        pytest.param("Name = 'acme deal'", ["006A"], id="eq-case-insensitive"),
        pytest.param("Name != 'ACME DEAL'", ["006B", "006C"], id="ne"),
        pytest.param("Name <> 'acme deal'", ["006B", "006C"], id="ne-angle"),
        pytest.param("Name < 'b'", ["006A"], id="lt-string"),
        pytest.param("Name >= 'BETA'", ["006B", "006C"], id="ge-string-case-insensitive"),
        pytest.param("Id = '006a'", ["006A"], id="id"),
        pytest.param("Amount > 1000", ["006B"], id="gt-number-int-vs-decimal"),
        pytest.param("Amount >= 1000", ["006A", "006B"], id="ge-number"),
        pytest.param("Amount = 1000.00", ["006A"], id="eq-decimal-scale"),
        pytest.param("Amount <= 2500.5", ["006A", "006B"], id="le-decimal"),
        pytest.param("Amount > -5", ["006A", "006B"], id="negative-number-null-false"),
        pytest.param("Amount < 1e4", ["006A", "006B"], id="exponent"),
        pytest.param("TotalOpportunityQuantity = 0.1", ["006A"], id="float-eq-decimal"),
        pytest.param("TotalOpportunityQuantity IN (0.1, 2.5)", ["006A", "006B"], id="float-in"),
        pytest.param("Probability < 50", ["006A"], id="percent"),
        pytest.param("Quantity__c IN (3, 7)", ["006A", "006B"], id="in-int"),
        pytest.param("Amount = null", ["006C"], id="eq-null"),
        pytest.param("Amount != null", ["006A", "006B"], id="ne-null"),
        pytest.param("Amount < null", [], id="lt-null"),
        pytest.param("Amount != 1000", ["006B", "006C"], id="ne-includes-null"),
        pytest.param("Quantity__c NOT IN (3)", ["006B", "006C"], id="not-in-includes-null"),
        pytest.param("Quantity__c IN (3, null)", ["006A", "006C"], id="in-null"),
        pytest.param("Quantity__c NOT IN (3, null)", ["006B"], id="not-in-null"),
        pytest.param("IsClosed = true", ["006B", "006C"], id="boolean-true"),
        pytest.param("IsClosed = FALSE", ["006A"], id="boolean-false"),
        pytest.param("CloseDate > 2024-02-01", ["006B"], id="date"),
        pytest.param("CloseDate = 2024-01-31", ["006A"], id="date-eq"),
        pytest.param("SystemModstamp >= 2024-02-01T09:30:00Z", ["006B", "006C"], id="datetime-z"),
        pytest.param(
            "SystemModstamp = 2024-02-01T10:30:00+01:00", ["006B"], id="datetime-offset-colon"
        ),
        pytest.param("SystemModstamp < 2024-01-01T02:00:01-0800", ["006A"], id="datetime-offset"),
        pytest.param(
            "SystemModstamp > 2024-01-01T10:00:00.000001Z", ["006B", "006C"], id="datetime-fraction"
        ),
        pytest.param("StageName IN ('closed won', 'Closed Lost')", ["006B", "006C"], id="in"),
        pytest.param("StageName NOT IN ('closed won')", ["006A", "006C"], id="not-in"),
        pytest.param("Account.Name = 'acme'", ["006A"], id="relationship"),
        pytest.param("Account.Industry = null", ["006B", "006C"], id="relationship-null"),
        pytest.param("Account.Website LIKE '%.example'", ["006A"], id="relationship-like"),
        pytest.param("Name LIKE 'acme%'", ["006A"], id="like-prefix"),
        pytest.param("Name LIKE '%DEAL'", ["006A"], id="like-suffix-case-insensitive"),
        pytest.param("Name LIKE '%ET%'", ["006B"], id="like-contains"),
        pytest.param("Name LIKE '%'", ["006A", "006B", "006C"], id="like-everything"),
        pytest.param("Name LIKE 'a%e%l'", ["006A"], id="like-three-segments"),
        pytest.param("Name LIKE '_cme%'", ["006A"], id="like-underscore"),
        pytest.param("Name LIKE 'gamm_\\_it\\'s'", ["006C"], id="like-underscore-escape"),
        pytest.param("Name LIKE '%50\\%%'", ["006B"], id="like-percent-escape"),
        pytest.param("Name LIKE '%0\\%'", [], id="like-escaped-percent-is-literal"),
        pytest.param("Name LIKE 'gamma.it%'", [], id="like-regex-chars-literal"),
        pytest.param("Description LIKE '%'", [], id="like-null-never-matches"),
        pytest.param("Name = 'gamma_it\\'s'", ["006C"], id="escaped-quote"),
        pytest.param("IsClosed = true AND Amount != null", ["006B"], id="and"),
        pytest.param("Amount = 1000 OR Amount = null", ["006A", "006C"], id="or"),
        pytest.param("Amount = null OR Amount = 1000", ["006A", "006C"], id="or-keeps-order"),
        pytest.param("NOT Name = 'acme deal'", ["006B", "006C"], id="not"),
        pytest.param("NOT Amount > 1000", ["006A", "006C"], id="not-keeps-null"),
        pytest.param("NOT NOT IsClosed = true", ["006B", "006C"], id="double-not"),
        pytest.param("NOT (IsClosed = true AND Amount = null)", ["006A", "006B"], id="not-paren"),
        pytest.param(
            "(Amount = 1000 OR Amount = null) AND IsClosed = true", ["006C"], id="nested-parens"
        ),
        pytest.param(
            "IsClosed = true AND (Name LIKE 'b%' OR Name LIKE 'g%') AND Account.Name != null",
            ["006B"],
            id="three-way-and",
        ),
        pytest.param(
            "(Name = 'x' AND Amount = 1) OR (NOT IsClosed = true OR Quantity__c = 7)",
            ["006A", "006B"],
            id="or-of-ands",
        ),
    ],
)
def test_where_evaluates(clause: str, expected: list[str]) -> None:
    """Each WHERE construct selects exactly the expected records, in input order."""
    assert where_ids(clause) == expected
    compiled = compile_query(parse(f"SELECT Id FROM Opportunity WHERE {clause}"), SCHEMA)
    assert [r["Id"] for r in RECORDS if compiled.matches(r, get)] == expected


@pytest.mark.parametrize(
    ("clause", "now", "expected"),
    [
        pytest.param("CloseDate = TODAY", NOW, ["006B"], id="today"),
        pytest.param("CloseDate = YESTERDAY", NOW, [], id="yesterday"),
        pytest.param("CloseDate < TODAY", NOW, ["006A"], id="before-today"),
        pytest.param("CloseDate <= TODAY", NOW, ["006A", "006B"], id="up-to-today"),
        pytest.param("CloseDate > TODAY", NOW, [], id="after-today"),
        pytest.param("CloseDate >= TODAY", NOW, ["006B"], id="from-today"),
        pytest.param("CloseDate != TODAY", NOW, ["006A", "006C"], id="not-today-keeps-null"),
        pytest.param("CloseDate = LAST_N_DAYS:30", NOW, ["006A", "006B"], id="last-30-days"),
        pytest.param("CloseDate = LAST_N_DAYS:29", NOW, ["006B"], id="last-29-days"),
        pytest.param("CloseDate = NEXT_N_DAYS:5", NOW, [], id="next-days-exclude-today"),
        pytest.param(
            "CloseDate = TOMORROW",
            dt.datetime(2024, 1, 30, 23, 59, tzinfo=UTC),
            ["006A"],
            id="tomorrow",
        ),
        pytest.param(
            "CloseDate = TOMORROW",
            dt.datetime(2024, 3, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            ["006B"],
            id="now-with-offset-is-read-in-utc",
        ),
        pytest.param("CloseDate = TODAY", dt.datetime(2024, 3, 1, 23), ["006B"], id="naive-now"),
        pytest.param("CloseDate IN (TODAY, 2024-01-31)", NOW, ["006A", "006B"], id="in"),
        pytest.param("CloseDate NOT IN (TODAY)", NOW, ["006A", "006C"], id="not-in"),
        pytest.param("SystemModstamp = TODAY", NOW, ["006C"], id="datetime-today"),
        pytest.param("SystemModstamp < YESTERDAY", NOW, ["006A", "006B"], id="datetime-before"),
        pytest.param("SystemModstamp = LAST_N_DAYS:29", NOW, ["006B", "006C"], id="datetime-last"),
        pytest.param("SystemModstamp = N_DAYS_AGO:29", NOW, ["006B"], id="n-days-ago"),
        pytest.param("SystemModstamp > N_DAYS_AGO:999999", NOW, ["006A", "006B", "006C"], id="far"),
        pytest.param(
            "SystemModstamp < NEXT_N_DAYS:999999", NOW, ["006A", "006B", "006C"], id="fut"
        ),
    ],
)
def test_relative_dates(clause: str, now: dt.datetime, expected: list[str]) -> None:
    """Relative date literals cover whole UTC days counted from ``now``."""
    assert where_ids(clause, now=now) == expected


def test_relative_dates_default_to_the_clock() -> None:
    """Without ``now``, TODAY is the current UTC date."""
    today = dt.datetime.now(UTC).date()
    records = [{"Id": "1", "CloseDate": today}, {"Id": "2", "CloseDate": dt.date(2000, 1, 1)}]
    compiled = compile_query(parse("SELECT Id FROM Opportunity WHERE CloseDate = TODAY"), SCHEMA)
    assert [r["Id"] for r in compiled.run(records, get)] == ["1"]
    assert compiled.matches(records[0], get)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        pytest.param("Amount", ["006C", "006A", "006B"], id="asc-nulls-first"),
        pytest.param("Amount DESC", ["006B", "006A", "006C"], id="desc-nulls-last"),
        pytest.param("Amount ASC NULLS LAST", ["006A", "006B", "006C"], id="asc-nulls-last"),
        pytest.param("Amount DESC NULLS FIRST", ["006C", "006B", "006A"], id="desc-nulls-first"),
        pytest.param("Name DESC", ["006C", "006B", "006A"], id="string-desc"),
        pytest.param("IsClosed, Name DESC", ["006A", "006C", "006B"], id="mixed-directions"),
        pytest.param("IsClosed DESC, Id", ["006B", "006C", "006A"], id="desc-then-asc"),
        pytest.param("Account.Name DESC", ["006B", "006A", "006C"], id="relationship"),
        pytest.param("CloseDate DESC NULLS FIRST", ["006C", "006B", "006A"], id="date"),
        pytest.param("SystemModstamp DESC", ["006C", "006B", "006A"], id="datetime"),
        pytest.param("Probability", ["006C", "006A", "006B"], id="float"),
    ],
)
def test_order_by(order: str, expected: list[str]) -> None:
    """ORDER BY honours direction, default and explicit null placement."""
    assert ids(f"SELECT Id FROM Opportunity ORDER BY {order}") == expected


def test_order_by_is_stable_and_case_insensitive() -> None:
    """Records equal under case-insensitive ordering keep their input order."""
    records = [{"Id": str(i), "Name": name} for i, name in enumerate(["b", "A", "a", "B", None])]
    assert ids("SELECT Id FROM Opportunity ORDER BY Name", records) == ["4", "1", "2", "0", "3"]
    assert ids("SELECT Id FROM Opportunity ORDER BY Name DESC", records) == [
        "0",
        "3",
        "1",
        "2",
        "4",
    ]


def test_order_by_mixed_datetime_values() -> None:
    """Naive datetimes sort as UTC alongside aware ones in other offsets."""
    plus_two = dt.timezone(dt.timedelta(hours=2))
    records = [
        {"Id": "a", "SystemModstamp": dt.datetime(2024, 1, 1, 12, tzinfo=plus_two)},  # 10:00Z
        {"Id": "b", "SystemModstamp": dt.datetime(2024, 1, 1, 9)},
        {"Id": "c", "SystemModstamp": dt.datetime(2024, 1, 1, 11, tzinfo=UTC)},
    ]
    assert ids("SELECT Id FROM Opportunity ORDER BY SystemModstamp", records) == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("tail", "window"),
    [
        pytest.param("LIMIT 2", slice(0, 2), id="limit"),
        pytest.param("LIMIT 0", slice(0, 0), id="limit-zero"),
        pytest.param("OFFSET 1", slice(1, None), id="offset"),
        pytest.param("LIMIT 1 OFFSET 1", slice(1, 2), id="limit-offset"),
        pytest.param("LIMIT 5 OFFSET 2000", slice(2000, 2005), id="offset-past-end"),
    ],
)
def test_limit_offset(tail: str, window: slice) -> None:
    """OFFSET then LIMIT apply after filtering and sorting, with or without ORDER BY."""
    in_order = ["006A", "006B", "006C"]
    assert ids(f"SELECT Id FROM Opportunity {tail}") == in_order[window]
    assert ids(f"SELECT Id FROM Opportunity ORDER BY Id DESC {tail}") == in_order[::-1][window]
    closed = f"SELECT Id FROM Opportunity WHERE IsClosed = true ORDER BY Id DESC {tail}"
    assert ids(closed) == ["006C", "006B"][window]


def test_count_query() -> None:
    """COUNT() compiles to a count-only query whose run returns the matching records."""
    compiled = compile_query(parse("SELECT COUNT() FROM Opportunity WHERE IsClosed = true"), SCHEMA)
    assert compiled.count_only
    assert compiled.select == ()
    assert len(compiled.run(RECORDS, get)) == 2


def test_run_accepts_any_iterable() -> None:
    """``run`` takes generators and tuples as well as lists."""
    compiled = compile_query(parse("SELECT Id FROM Opportunity WHERE Amount > 0"), SCHEMA)
    assert compiled.run((r for r in RECORDS), get) == RECORDS[:2]
    assert compiled.run(tuple(RECORDS), get) == RECORDS[:2]
    assert compiled.run([], get) == []


def test_huge_in_list() -> None:
    """An IN list of 20,000 values parses and matches exactly its members."""
    names = [f"n{i}" for i in range(20_000)]
    soql = format_soql("SELECT Id FROM Opportunity WHERE Name IN {}", names)
    records = [{"Id": str(i), "Name": f"N{i * 7}"} for i in range(5_000)]
    expected = [r["Id"] for r in records if int(r["Name"][1:]) < 20_000]
    assert ids(soql, records) == expected


def test_like_has_no_catastrophic_backtracking() -> None:
    """A pattern with many wildcards against a long near-miss finishes promptly."""
    records = [{"Id": "1", "Name": "a" * 20_000}, {"Id": "2", "Name": "a" * 20_000 + "b"}]
    assert where_ids("Name LIKE '" + "%a" * 30 + "%b'", records=records) == ["2"]


def test_nesting_within_limit() -> None:
    """Parentheses nested 40 deep are fine; the limit only stops pathological input."""
    clause = "(" * 40 + "Amount = 1000" + ")" * 40
    assert where_ids(clause) == ["006A"]


# --- simple_salesforce.format_soql --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(dt.datetime(2024, 2, 1, 9, 30, tzinfo=UTC), ["006B", "006C"], id="utc"),
        pytest.param(
            dt.datetime(2024, 2, 1, 10, 30, 0, 999, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            ["006B", "006C"],
            id="offset-and-microseconds",
        ),
    ],
)
def test_format_soql_datetime(value: dt.datetime, expected: list[str]) -> None:
    """simple_salesforce's datetime formatting (+00:00) parses and compares in UTC."""
    soql = format_soql("SELECT Id FROM Opportunity WHERE SystemModstamp >= {}", value)
    assert ids(soql) == expected


def test_format_soql_values() -> None:
    """format_soql lists, dates, numbers, booleans and null all parse and evaluate."""
    soql = format_soql(
        "SELECT Id FROM Opportunity WHERE Quantity__c IN {} AND CloseDate <= {} "
        "AND IsClosed = {} AND Account.Industry != {} AND Amount > {} AND Probability < {}",
        [3, 7, None],
        dt.date(2024, 12, 31),
        False,
        None,
        0.5,
        1e16,
    )
    assert ids(soql) == ["006A"]


def test_format_soql_injection_stays_a_literal() -> None:
    """A value crafted to break out of its quotes stays one string literal."""
    hostile = "' OR Name != '"
    query = parse(format_soql("SELECT Id FROM Opportunity WHERE Name = {}", hostile))
    assert query.where == Compare(("Name",), "=", hostile)
    assert ids(format_soql("SELECT Id FROM Opportunity WHERE Name = {}", hostile)) == []


def test_format_soql_like_spec() -> None:
    """format_soql's :like spec escapes wildcards so they match literally."""
    soql = format_soql("SELECT Id FROM Opportunity WHERE Name LIKE '%{:like}%'", "50% ")
    assert ids(soql) == ["006B"]
    soql = format_soql("SELECT Id FROM Opportunity WHERE Name LIKE '{:like}'", "gamma_it's")
    assert ids(soql) == ["006C"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_format_soql_roundtrip(text: str) -> None:
    """For any text, a format_soql equality parses to exactly that literal and matches it."""
    query = parse(format_soql("SELECT Id FROM Opportunity WHERE Name = {}", text))
    assert query.where == Compare(("Name",), "=", text)
    compiled = compile_query(query, SCHEMA)
    assert compiled.matches({"Name": text}, get)
    assert not compiled.matches({"Name": text + "x"}, get)
    assert not compiled.matches({"Name": None}, get)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_format_soql_like_roundtrip(text: str, other: str) -> None:
    """For any text, a format_soql :like query matches that text and no other text."""
    soql = format_soql("SELECT Id FROM Opportunity WHERE Name LIKE '{:like}'", text)
    compiled = compile_query(parse(soql), SCHEMA)
    assert compiled.matches({"Name": text}, get)
    assert compiled.matches({"Name": other}, get) == (other.casefold() == text.casefold())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), st.booleans(), st.integers(), st.text()), max_size=6))
def test_format_soql_lists_parse(values: list[Any]) -> None:
    """Any list format_soql renders parses into an IN of the same values."""
    if not values:
        return
    query = parse(format_soql("SELECT Id FROM Opportunity WHERE Name IN {}", values))
    assert isinstance(query.where, In)
    expected = [Decimal(v) if type(v) is int else v for v in values]
    assert list(query.where.values) == expected


# --- properties against reference implementations -----------------------------------------

SOQL_ALPHABET = st.sampled_from(
    [
        "SELECT ", "Id", ", ", "Name", " FROM ", "Opportunity", " WHERE ", " = ", " != ",
        " < ", "'", "\\", "\\u00e9", "\\%", "(", ")", " AND ", " OR ", " NOT ", " IN ",
        " LIKE ", "null", "2024-01-31", "T10:00:00Z", "+01:00", "-5.5", "e9", " ORDER BY ",
        " DESC", " NULLS LAST", " LIMIT ", " OFFSET ", "9999999999", "COUNT()", ".", ";", "%",
        "TODAY", "LAST_N_DAYS", ":", "3", "Account.Name", "CloseDate", "Amount",
    ]
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.lists(SOQL_ALPHABET, max_size=25).map("".join)))
def test_parse_fuzz(text: str) -> None:
    """Any text parses to a Query or raises SoqlError, and what compiles also runs."""
    allowed = {
        parse: {"MALFORMED_QUERY", "NUMBER_OUTSIDE_VALID_RANGE"},
        compile_query: {"INVALID_FIELD", "INVALID_TYPE"},
    }
    stage: Callable[..., Any] = parse
    error: SoqlError | None = None
    try:
        query = parse(text)
        stage = compile_query
        compiled = compile_query(query, SCHEMA)
    except SoqlError as exc:
        error = exc
    if error is not None:
        assert error.error_code in allowed[stage]
        assert str(error) == error.message
    else:
        assert isinstance(query, Query)
        compiled.run(RECORDS, get, now=NOW)


def _reference_cmp(keys: list[tuple[str, bool, bool]]) -> Callable[[Any, Any], int]:
    """Compare two records the slow, obvious way, for ORDER BY ``keys``."""

    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for name, descending, nulls_last in keys:
            x, y = a[name], b[name]
            if isinstance(x, str):
                x = x.casefold()
            if isinstance(y, str):
                y = y.casefold()
            if x == y:
                continue
            if x is None or y is None:
                return (1 if x is None else -1) * (1 if nulls_last else -1)
            return (1 if x > y else -1) * (-1 if descending else 1)
        return 0

    return cmp


SORT_FIELDS = {"Quantity__c": st.integers(0, 3), "Name": st.sampled_from(["a", "B", "b", "c"])}


@st.composite
def sort_cases(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[tuple[str, bool, bool]]]:
    size = draw(st.integers(0, 60))
    records = [
        {
            "Id": f"{i:03d}",
            "Quantity__c": draw(st.none() | SORT_FIELDS["Quantity__c"]),
            "Name": draw(st.none() | SORT_FIELDS["Name"]),
            "IsClosed": draw(st.booleans()),
        }
        for i in range(size)
    ]
    names = draw(st.lists(st.sampled_from(["Quantity__c", "Name", "IsClosed"]), min_size=1))
    keys = [(n, draw(st.booleans()), draw(st.booleans())) for n in names[:4]]
    return records, keys


def _order_clause(keys: list[tuple[str, bool, bool]]) -> str:
    return ", ".join(
        f"{n} {'DESC' if d else 'ASC'} NULLS {'LAST' if last else 'FIRST'}" for n, d, last in keys
    )


@settings(max_examples=300, deadline=None)
@given(sort_cases())
def test_order_by_matches_reference(
    case: tuple[list[dict[str, Any]], list[tuple[str, bool, bool]]],
) -> None:
    """Any ORDER BY gives the same order as a stable comparison-function sort."""
    records, keys = case
    expected = sorted(records, key=functools.cmp_to_key(_reference_cmp(keys)))
    assert ids(f"SELECT Id FROM Opportunity ORDER BY {_order_clause(keys)}", records) == [
        r["Id"] for r in expected
    ]


@pytest.mark.parametrize(
    ("size", "distinct"),
    [
        pytest.param(5_000, 50_000, id="few-ties-refined-run-by-run"),
        pytest.param(5_000, 2_000, id="many-small-runs-full-pass"),
        pytest.param(5_000, 3, id="few-large-runs"),
        pytest.param(5_000, 1, id="all-tied"),
    ],
)
def test_large_multi_key_sort(size: int, distinct: int) -> None:
    """Multi-key sorts over thousands of rows match the reference, whatever the ties."""
    rng = random.Random(size + distinct)
    records = [
        {
            "Id": f"{i:05d}",
            "Quantity__c": None if rng.random() < 0.05 else rng.randrange(distinct),
            "Name": rng.choice(["x", "Y", "y", None]),
            "IsClosed": rng.random() < 0.5,
        }
        for i in range(size)
    ]
    keys = [("Quantity__c", True, False), ("Name", False, True), ("IsClosed", True, True)]
    expected = sorted(records, key=functools.cmp_to_key(_reference_cmp(keys)))
    assert ids(f"SELECT Id FROM Opportunity ORDER BY {_order_clause(keys)}", records) == [
        r["Id"] for r in expected
    ]


def _reference_where(node: Condition, record: dict[str, Any]) -> bool:
    """Evaluate a condition over Quantity__c / Name one record at a time."""
    if isinstance(node, And):
        return all(_reference_where(n, record) for n in node.items)
    if isinstance(node, Or):
        return any(_reference_where(n, record) for n in node.items)
    if isinstance(node, Not):
        return not _reference_where(node.item, record)
    assert isinstance(node, Compare)
    value = record[node.path[0]]
    literal: Any = node.value
    if isinstance(value, str) and isinstance(literal, str):
        value, literal = value.casefold(), literal.casefold()
    if node.op in ("=", "!="):
        return bool(value == literal) == (node.op == "=")
    if value is None or literal is None:
        return False
    outcomes = {"<": value < literal, "<=": value <= literal, ">": value > literal}
    return bool(outcomes.get(node.op, value >= literal))


LEAVES = st.one_of(
    st.builds(
        lambda op, v: f"Quantity__c {op} {'null' if v is None else v}",
        st.sampled_from(["=", "!=", "<", "<=", ">", ">="]),
        st.none() | st.integers(0, 3),
    ),
    st.builds(
        lambda op, v: f"Name {op} {format_soql('{}', v)}",
        st.sampled_from(["=", "!=", "<", ">="]),
        st.none() | st.sampled_from(["a", "B", "b"]),
    ),
)
CONDITIONS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        inner.map(lambda c: f"NOT ({c})"),
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: " AND ".join(f"({c})" for c in cs)),
        st.lists(inner, min_size=2, max_size=3).map(lambda cs: " OR ".join(f"({c})" for c in cs)),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    CONDITIONS,
    st.lists(
        st.tuples(st.none() | st.integers(0, 3), st.none() | st.sampled_from(["a", "A", "b", "B"])),
        max_size=20,
    ),
)
def test_where_matches_reference(clause: str, values: list[tuple[int | None, str | None]]) -> None:
    """Column-at-a-time AND / OR / NOT give the same rows as record-at-a-time evaluation."""
    records = [{"Id": str(i), "Quantity__c": q, "Name": n} for i, (q, n) in enumerate(values)]
    where = where_of(clause)
    assert where is not None
    expected = [r["Id"] for r in records if _reference_where(where, r)]
    assert ids(f"SELECT Id FROM Opportunity WHERE {clause}", records) == expected
