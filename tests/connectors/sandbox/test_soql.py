"""Tests for the sandbox SOQL engine (parse, compile, evaluate)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from simple_salesforce.format import format_soql

from connectors.sandbox.soql import (
    CompiledQuery,
    FieldPath,
    OrderItem,
    SoqlError,
    compile_query,
    parse,
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
    "Account": {"Id": "id", "Name": "string", "Industry": "picklist"},
}
RELATIONS = {("Opportunity", "account"): "Account"}


class FakeSchema:
    """Two objects; Opportunity.Account points to Account."""

    def object_name(self, name: str) -> str | None:
        return next((o for o in FIELDS if o.lower() == name.lower()), None)

    def field(self, sobject: str, path: FieldPath) -> tuple[FieldPath, str] | None:
        if len(path) == 2:
            target = RELATIONS.get((sobject, path[0].lower()))
            if target is None:
                return None
            rest = self.field(target, path[1:])
            return None if rest is None else (("Account", *rest[0]), rest[1])
        if len(path) != 1:
            return None
        for name, ftype in FIELDS[sobject].items():
            if name.lower() == path[0].lower():
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
        "Account": {"Name": "Acme", "Industry": "Energy"},
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
        "Account": {"Name": "Beta Corp", "Industry": None},
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


def ids(soql: str, records: list[dict[str, Any]] | None = None) -> list[str]:
    compiled = compile_query(parse(soql), SCHEMA)
    return [r["Id"] for r in compiled.run(RECORDS if records is None else records, get)]


def where_ids(clause: str) -> list[str]:
    return ids(f"SELECT Id FROM Opportunity WHERE {clause}")


@pytest.mark.parametrize(
    ("soql", "sobject", "fields", "count_only", "limit", "offset"),
    [
        pytest.param(
            "SELECT Id, Name FROM Opportunity",
            "Opportunity",
            (("Id",), ("Name",)),
            False,
            None,
            None,
            id="plain",
        ),
        pytest.param(
            "select id, account.name from opportunity limit 5 offset 2",
            "opportunity",
            (("id",), ("account", "name")),
            False,
            5,
            2,
            id="lowercase-relationship-limit-offset",
        ),
        pytest.param(
            "SELECT COUNT() FROM Opportunity WHERE IsClosed = true",
            "Opportunity",
            (),
            True,
            None,
            None,
            id="count",
        ),
        pytest.param(
            "  SELECT\n\tId\nFROM  Opportunity  ",
            "Opportunity",
            (("Id",),),
            False,
            None,
            None,
            id="whitespace",
        ),
    ],
)
def test_parse_structure(
    soql: str,
    sobject: str,
    fields: tuple[FieldPath, ...],
    count_only: bool,
    limit: int | None,
    offset: int | None,
) -> None:
    """The parsed Query carries object, fields, COUNT flag, LIMIT and OFFSET."""
    query = parse(soql)
    assert (query.sobject, query.fields, query.count_only) == (sobject, fields, count_only)
    assert (query.limit, query.offset) == (limit, offset)


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        pytest.param("Name = 'acme deal'", ["006A"], id="eq-case-insensitive"),
        pytest.param("Name != 'ACME DEAL'", ["006B", "006C"], id="ne"),
        pytest.param("Name <> 'acme deal'", ["006B", "006C"], id="ne-angle"),
        pytest.param("Name < 'b'", ["006A"], id="lt-string"),
        pytest.param("Name >= 'BETA'", ["006B", "006C"], id="ge-string-case-insensitive"),
        pytest.param("Amount > 1000", ["006B"], id="gt-number-int-vs-decimal"),
        pytest.param("Amount >= 1000", ["006A", "006B"], id="ge-number"),
        pytest.param("Amount <= 2500.5", ["006A", "006B"], id="le-decimal"),
        pytest.param("Amount > -5", ["006A", "006B"], id="negative-number-null-false"),
        pytest.param("TotalOpportunityQuantity = 0.1", ["006A"], id="float-eq-decimal"),
        pytest.param("Probability < 50", ["006A"], id="percent"),
        pytest.param("Quantity__c IN (3, 7)", ["006A", "006B"], id="in-int"),
        pytest.param("Amount = null", ["006C"], id="eq-null"),
        pytest.param("Amount != null", ["006A", "006B"], id="ne-null"),
        pytest.param("Amount != 1000", ["006B", "006C"], id="ne-includes-null"),
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
        pytest.param("Name LIKE 'acme%'", ["006A"], id="like-prefix"),
        pytest.param("Name LIKE '%DEAL'", ["006A"], id="like-suffix-case-insensitive"),
        pytest.param("Name LIKE 'gamm_\\_it\\'s'", ["006C"], id="like-underscore-escape"),
        pytest.param("Name LIKE '%50\\%%'", ["006B"], id="like-percent-escape"),
        pytest.param("Name LIKE 'gamma.it%'", [], id="like-regex-chars-literal"),
        pytest.param("Name = 'gamma_it\\'s'", ["006C"], id="escaped-quote"),
        pytest.param("IsClosed = true AND Amount != null", ["006B"], id="and"),
        pytest.param("Amount = 1000 OR Amount = null", ["006A", "006C"], id="or"),
        pytest.param("NOT Name = 'acme deal'", ["006B", "006C"], id="not"),
        pytest.param("NOT (IsClosed = true AND Amount = null)", ["006A", "006B"], id="not-paren"),
        pytest.param(
            "(Amount = 1000 OR Amount = null) AND IsClosed = true", ["006C"], id="nested-parens"
        ),
        pytest.param(
            "IsClosed = true AND (Name LIKE 'b%' OR Name LIKE 'g%') AND Account.Name != null",
            ["006B"],
            id="three-way-and",
        ),
    ],
)
def test_where_evaluates(clause: str, expected: list[str]) -> None:
    """Each WHERE construct selects exactly the expected records."""
    assert where_ids(clause) == expected


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
    ],
)
def test_order_by(order: str, expected: list[str]) -> None:
    """ORDER BY honours direction, default and explicit null placement."""
    assert ids(f"SELECT Id FROM Opportunity ORDER BY {order}") == expected


def test_order_by_is_stable_and_case_insensitive() -> None:
    """Records equal under case-insensitive ordering keep their input order."""
    records = [{"Id": str(i), "Name": name} for i, name in enumerate(["b", "A", "a", "B", None])]
    assert ids("SELECT Id FROM Opportunity ORDER BY Name", records) == ["4", "1", "2", "0", "3"]


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        pytest.param("LIMIT 2", ["006A", "006B"], id="limit"),
        pytest.param("LIMIT 0", [], id="limit-zero"),
        pytest.param("OFFSET 1", ["006B", "006C"], id="offset"),
        pytest.param("LIMIT 1 OFFSET 1", ["006B"], id="limit-offset"),
        pytest.param("OFFSET 5", [], id="offset-past-end"),
    ],
)
def test_limit_offset(tail: str, expected: list[str]) -> None:
    """OFFSET applies after sorting, then LIMIT."""
    assert ids(f"SELECT Id FROM Opportunity ORDER BY Id {tail}") == expected


def test_count_query() -> None:
    """COUNT() compiles to a count-only query whose run returns the matching records."""
    compiled = compile_query(parse("SELECT COUNT() FROM Opportunity WHERE IsClosed = true"), SCHEMA)
    assert compiled.count_only
    assert compiled.select == ()
    assert len(compiled.run(RECORDS, get)) == 2


def test_compile_canonicalizes_select() -> None:
    """SELECT paths become canonical, duplicates are dropped and order is kept."""
    compiled = compile_query(
        parse("SELECT name, ID, Name, account.name FROM opportunity LIMIT 3 OFFSET 1"), SCHEMA
    )
    assert isinstance(compiled, CompiledQuery)
    assert compiled.sobject == "Opportunity"
    assert compiled.select == (("Name",), ("Id",), ("Account", "Name"))
    assert (compiled.limit, compiled.offset) == (3, 1)


def test_matches() -> None:
    """matches evaluates the WHERE clause against a single record."""
    compiled = compile_query(parse("SELECT Id FROM Opportunity WHERE Amount > 1500"), SCHEMA)
    assert [compiled.matches(r, get) for r in RECORDS] == [False, True, False]
    everything = compile_query(parse("SELECT Id FROM Opportunity"), SCHEMA)
    assert everything.matches(RECORDS[2], get)


def test_order_item_defaults() -> None:
    """ASC defaults to NULLS FIRST and DESC to NULLS LAST."""
    query = parse("SELECT Id FROM Opportunity ORDER BY Name, Amount DESC, Id ASC NULLS LAST")
    assert query.order_by == (
        OrderItem(("Name",), descending=False, nulls_last=False),
        OrderItem(("Amount",), descending=True, nulls_last=True),
        OrderItem(("Id",), descending=False, nulls_last=True),
    )


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        pytest.param(r"'a\'b'", "a'b", id="quote"),
        pytest.param(r"'a\"b'", 'a"b', id="double-quote"),
        pytest.param(r"'a\\b'", "a\\b", id="backslash"),
        pytest.param(r"'\n\r\t\b\f'", "\n\r\t\b\f", id="control"),
        pytest.param("'héllo ✓'", "héllo ✓", id="unicode"),
        pytest.param("''", "", id="empty"),
    ],
)
def test_string_escapes(literal: str, expected: str) -> None:
    """Escape sequences in string literals decode to the intended characters."""
    records = [{"Id": "1", "Name": expected}, {"Id": "2", "Name": expected + "x"}]
    assert ids(f"SELECT Id FROM Opportunity WHERE Name = {literal}", records) == ["1"]


@pytest.mark.parametrize(
    "soql",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("SELECT Id FORM Opportunity", id="typo-keyword"),
        pytest.param("SELECT FROM Opportunity", id="no-fields"),
        pytest.param("SELECT Id, FROM Opportunity", id="trailing-comma"),
        pytest.param("SELECT Id FROM", id="no-object"),
        pytest.param("SELECT Id FROM Opportunity WHERE", id="empty-where"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'abc", id="unterminated-string"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a\\'", id="escaped-final-quote"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a\\q'", id="unknown-escape"),
        pytest.param("SELECT Id FROM Opportunity WHERE (Name = 'a'", id="unbalanced-open"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a')", id="unbalanced-close"),
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
            "SELECT Id FROM Opportunity WHERE Name = 'a' AND Id = 'b' OR Id = 'c'", id="mixed"
        ),
        pytest.param("SELECT Id FROM Opportunity garbage", id="trailing-garbage"),
        pytest.param("SELECT Id FROM Opportunity LIMIT 5 LIMIT 6", id="double-limit"),
        pytest.param("SELECT Id FROM Opportunity;", id="semicolon"),
        pytest.param("SELECT Id FROM Opportunity LIMIT -1", id="negative-limit"),
        pytest.param("SELECT Id FROM Opportunity LIMIT 1.5", id="decimal-limit"),
        pytest.param("SELECT Id FROM Opportunity OFFSET 1 LIMIT 1", id="offset-before-limit"),
        pytest.param("SELECT Id, (SELECT Id FROM Contacts) FROM Account", id="subquery"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE AccountId IN (SELECT Id FROM Account)",
            id="semi-join",
        ),
        pytest.param("SELECT COUNT(Id) FROM Opportunity", id="count-field"),
        pytest.param("SELECT MAX(Amount) FROM Opportunity", id="aggregate"),
        pytest.param("SELECT StageName FROM Opportunity GROUP BY StageName", id="group-by"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = Name", id="field-as-value"),
        pytest.param("SELECT Id FROM Opportunity WHERE 'a' = Name", id="value-first"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name IN ()", id="empty-in"),
        pytest.param("SELECT Id FROM Opportunity WHERE Amount > 5abc", id="bad-number"),
        pytest.param("SELECT Id FROM Opportunity WHERE CloseDate = 2024-13-01", id="bad-date"),
        pytest.param(
            "SELECT Id FROM Opportunity WHERE SystemModstamp = 2024-01-01T10:00:00",
            id="datetime-without-zone",
        ),
        pytest.param("SELECT Id FROM Opportunity WHERE Name LIKE 5", id="like-number"),
        pytest.param("SELECT Id FROM Opportunity ORDER BY", id="empty-order"),
        pytest.param("SELECT Id FROM Opportunity ORDER Name", id="order-without-by"),
        pytest.param("SELECT Id FROM Opportunity ORDER BY Name NULLS", id="dangling-nulls"),
        pytest.param("SELECT Id FROM Opportunity WHERE NOT", id="dangling-not"),
        pytest.param("SELECT Id FROM Opportunity WHERE Name = 'a' #", id="stray-char"),
        pytest.param("SELECT Id FROM Opportunity WHERE " + "(" * 500, id="deep-parens"),
        pytest.param("SELECT Id FROM Opportunity WHERE " + "NOT " * 500, id="deep-not"),
    ],
)
def test_malformed_queries(soql: str) -> None:
    """Syntax problems always raise SoqlError MALFORMED_QUERY."""
    with pytest.raises(SoqlError) as info:
        parse(soql)
    assert info.value.error_code == "MALFORMED_QUERY"


def test_syntax_error_names_token() -> None:
    """The error message quotes the offending token."""
    with pytest.raises(SoqlError, match="unexpected token: 'FORM'") as info:
        parse("SELECT Id FORM Opportunity")
    assert str(info.value) == info.value.message == "unexpected token: 'FORM'"


def test_offset_over_limit() -> None:
    """OFFSET above 2000 is NUMBER_OUTSIDE_VALID_RANGE; 2000 itself is fine."""
    assert parse("SELECT Id FROM Opportunity OFFSET 2000").offset == 2000
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id FROM Opportunity OFFSET 2001")
    assert info.value.error_code == "NUMBER_OUTSIDE_VALID_RANGE"


@pytest.mark.parametrize(
    ("clause", "field"),
    [
        pytest.param("CloseDate = '2024-01-31'", "CloseDate", id="quoted-date"),
        pytest.param("SystemModstamp > '2024-01-01T00:00:00Z'", "SystemModstamp", id="quoted-dt"),
        pytest.param("Amount = '5'", "Amount", id="quoted-number"),
        pytest.param("IsClosed = 'true'", "IsClosed", id="quoted-boolean"),
        pytest.param("Name = 2024-01-31", "Name", id="date-vs-text"),
        pytest.param("Name = 5", "Name", id="number-vs-text"),
        pytest.param("Name = true", "Name", id="boolean-vs-text"),
        pytest.param("CloseDate = 2024-01-31T00:00:00Z", "CloseDate", id="datetime-vs-date"),
        pytest.param("SystemModstamp = 2024-01-31", "SystemModstamp", id="date-vs-datetime"),
        pytest.param("Amount IN (1, '2')", "Amount", id="in-mixed"),
        pytest.param("IsClosed = 1", "IsClosed", id="number-vs-boolean"),
        pytest.param("Amount LIKE '1%'", "Amount", id="like-number-field"),
        pytest.param("CloseDate LIKE '2024%'", "CloseDate", id="like-date-field"),
        pytest.param("Account.Name = 5", "Name", id="relationship-mismatch"),
    ],
)
def test_type_mismatch(clause: str, field: str) -> None:
    """A literal of the wrong type for its field is INVALID_FIELD naming the field."""
    query = parse(f"SELECT Id FROM Opportunity WHERE {clause}")
    with pytest.raises(SoqlError) as info:
        compile_query(query, SCHEMA)
    assert info.value.error_code == "INVALID_FIELD"
    assert f"'{field}'" in info.value.message


def test_type_mismatch_message() -> None:
    """A quoted date yields Salesforce's exact wording."""
    with pytest.raises(SoqlError) as info:
        compile_query(parse("SELECT Id FROM Opportunity WHERE CloseDate = '2024-01-31'"), SCHEMA)
    assert info.value.message == (
        "value of filter criterion for field 'CloseDate' must be of type date "
        "and should not be enclosed in quotes"
    )


@pytest.mark.parametrize(
    "soql",
    [
        pytest.param("SELECT Foo FROM Opportunity", id="select"),
        pytest.param("SELECT Id FROM Opportunity WHERE Foo = 'x'", id="where"),
        pytest.param("SELECT Id FROM Opportunity WHERE Foo IN ('x')", id="where-in"),
        pytest.param("SELECT Id FROM Opportunity WHERE NOT Foo LIKE 'x'", id="where-like"),
        pytest.param("SELECT Id FROM Opportunity ORDER BY Foo", id="order-by"),
    ],
)
def test_unknown_field(soql: str) -> None:
    """Unknown fields anywhere are INVALID_FIELD with Salesforce's message."""
    with pytest.raises(SoqlError) as info:
        compile_query(parse(soql), SCHEMA)
    assert info.value.error_code == "INVALID_FIELD"
    assert info.value.message.startswith(
        "No such column 'Foo' on entity 'Opportunity'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name."
    )


def test_unknown_relationship_field() -> None:
    """An unknown relationship path is INVALID_FIELD."""
    with pytest.raises(SoqlError) as info:
        compile_query(parse("SELECT Owner.Name FROM Opportunity"), SCHEMA)
    assert info.value.error_code == "INVALID_FIELD"


def test_unknown_object() -> None:
    """An unknown sObject is INVALID_TYPE."""
    with pytest.raises(SoqlError) as info:
        compile_query(parse("SELECT Id FROM Foo"), SCHEMA)
    assert info.value.error_code == "INVALID_TYPE"
    assert str(info.value) == "sObject type 'Foo' is not supported."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(dt.datetime(2024, 2, 1, 9, 30, tzinfo=UTC), ["006B", "006C"], id="datetime"),
        pytest.param(
            dt.datetime(2024, 2, 1, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            ["006B", "006C"],
            id="datetime-offset",
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
        "AND IsClosed = {} AND Account.Industry != {} AND Amount > {}",
        [3, 7, None],
        dt.date(2024, 12, 31),
        False,
        None,
        0.5,
    )
    assert ids(soql) == ["006A"]


def test_format_soql_like_spec() -> None:
    """format_soql's :like spec escapes wildcards so they match literally."""
    soql = format_soql("SELECT Id FROM Opportunity WHERE Name LIKE '%{:like}%'", "50% ")
    assert ids(soql) == ["006B"]
    soql = format_soql("SELECT Id FROM Opportunity WHERE Name LIKE '{:like}'", "gamma_it's")
    assert ids(soql) == ["006C"]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_format_soql_roundtrip(text: str) -> None:
    """For any text, a format_soql equality query matches exactly the equal Name."""
    compiled = compile_query(
        parse(format_soql("SELECT Id FROM Opportunity WHERE Name = {}", text)), SCHEMA
    )
    assert compiled.matches({"Name": text}, get)
    assert compiled.matches({"Name": text.upper()}, get) == (
        text.upper().casefold() == text.casefold()
    )
    assert not compiled.matches({"Name": text + "x"}, get)
    assert not compiled.matches({"Name": None}, get)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_format_soql_like_roundtrip(text: str) -> None:
    """For any text, a format_soql :like query matches exactly that text."""
    soql = format_soql("SELECT Id FROM Opportunity WHERE Name LIKE '{:like}'", text)
    compiled = compile_query(parse(soql), SCHEMA)
    assert compiled.matches({"Name": text}, get)
    assert not compiled.matches({"Name": text + "x"}, get)


SOQL_ALPHABET = st.sampled_from(
    [
        "SELECT ",
        "Id",
        ", ",
        "Name",
        " FROM ",
        "Opportunity",
        " WHERE ",
        " = ",
        " != ",
        " < ",
        "'",
        "\\",
        "(",
        ")",
        " AND ",
        " OR ",
        " NOT ",
        " IN ",
        " LIKE ",
        "null",
        "2024-01-31",
        "T10:00:00Z",
        "+01:00",
        "-5.5",
        "e9",
        " ORDER BY ",
        " DESC",
        " NULLS LAST",
        " LIMIT ",
        " OFFSET ",
        "9999999999",
        "COUNT()",
        ".",
        ";",
        "%",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.lists(SOQL_ALPHABET, max_size=25).map("".join)))
def test_parse_fuzz(text: str) -> None:
    """parse returns a Query or raises SoqlError for any input, never anything else."""
    stage = "parse"
    try:
        query = parse(text)
        stage = "compile"
        compiled = compile_query(query, SCHEMA)
    except SoqlError as exc:
        code = exc.error_code
    else:
        compiled.run(RECORDS, get)
        return
    allowed = {
        "parse": {"MALFORMED_QUERY", "NUMBER_OUTSIDE_VALID_RANGE"},
        "compile": {"INVALID_FIELD", "INVALID_TYPE"},
    }
    assert code in allowed[stage]
