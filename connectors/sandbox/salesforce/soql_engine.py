"""The sandbox's SOQL subset: a tokenizer, a recursive-descent parser and closures.

Supported: ``SELECT f, Rel.F | COUNT() FROM Obj [WHERE ...] [ORDER BY f [ASC|DESC]
[NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]``; conditions with AND / OR / NOT and
parentheses (mixing AND and OR at one level without parentheses is an error, as in
Salesforce); ``= != <> < <= > >= IN NOT IN LIKE``; string, number, boolean, null, date and
datetime literals. String comparisons are case-insensitive. Anything else (subqueries,
GROUP BY, aggregates other than ``COUNT()``) is ``MALFORMED_QUERY``. Every malformed input
raises :class:`SoqlError`, never another exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

__all__ = [
    "CompiledQuery",
    "FieldPath",
    "OrderItem",
    "Query",
    "Schema",
    "SoqlError",
    "compile_query",
    "parse",
]

FieldPath = tuple[str, ...]
R = TypeVar("R")
Getter = Callable[[Any, FieldPath], Any]
MAX_OFFSET = 2000


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` and its message."""

    def __init__(self, error_code: str, message: str) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message


class Schema(Protocol):
    def object_name(self, name: str) -> str | None: ...
    def field(self, sobject: str, path: FieldPath) -> tuple[FieldPath, str] | None: ...


@dataclass(frozen=True)
class OrderItem:
    path: FieldPath
    descending: bool
    nulls_last: bool


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | boolean | null | date | datetime
    value: Any


@dataclass(frozen=True)
class Comparison:
    path: FieldPath
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class Not:
    inner: Condition


@dataclass(frozen=True)
class Junction:
    op: str  # AND | OR
    parts: tuple[Condition, ...]


Condition = Comparison | Not | Junction


@dataclass(frozen=True)
class Query:
    sobject: str
    fields: tuple[FieldPath, ...]
    count_only: bool
    where: Condition | None
    order_by: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


# --- tokens --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
    | (?P<date>\d{4}-\d{2}-\d{2})(?![\dT])
    | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<string>')
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),.])
    )""",
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "LIKE",
    "ORDER",
    "BY",
    "ASC",
    "DESC",
    "NULLS",
    "FIRST",
    "LAST",
    "LIMIT",
    "OFFSET",
    "NULL",
    "TRUE",
    "FALSE",
    "GROUP",
    "HAVING",
    "COUNT",
    "TYPEOF",
    "FOR",
    "WITH",
    "USING",
}


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    value: Any = None


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None:
            snippet = text[pos:].strip()[:20]
            raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{snippet}'")
        kind = match.lastgroup or ""
        if kind == "string":
            value, pos = _string(text, match.end())
            out.append(_Tok("string", "'", value))
            continue
        raw = match.group(kind)
        if kind == "ident" and raw.upper() in _KEYWORDS:
            out.append(_Tok("kw", raw.upper()))
        else:
            out.append(_Tok(kind, raw))
        pos = match.end()
    out.append(_Tok("eof", "<end>"))
    return out


def _string(text: str, pos: int) -> tuple[str, int]:
    chars: list[str] = []
    while pos < len(text):
        ch = text[pos]
        if ch == "'":
            return "".join(chars), pos + 1
        if ch == "\\":
            nxt = text[pos + 1 : pos + 2]
            if nxt in _ESCAPES:
                chars.append(_ESCAPES[nxt])
            elif nxt in ("%", "_"):
                chars.append("\\" + nxt)  # kept escaped: meaningful to LIKE only
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2 : pos + 6]):
                chars.append(chr(int(text[pos + 2 : pos + 6], 16)))
                pos += 4
            else:
                raise SoqlError("MALFORMED_QUERY", f"Invalid string literal: bad escape \\{nxt}")
            pos += 2
            continue
        chars.append(ch)
        pos += 1
    raise SoqlError("MALFORMED_QUERY", "unexpected token: unterminated string literal")


# --- parser --------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Tok | None = None) -> SoqlError:
        tok = tok or self.peek()
        return SoqlError("MALFORMED_QUERY", f"unexpected token: '{tok.text}'")

    def kw(self, word: str) -> bool:
        if self.peek().kind == "kw" and self.peek().text == word:
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.kw(word):
            raise self.fail()

    def punct(self, ch: str) -> bool:
        if self.peek().kind == "punct" and self.peek().text == ch:
            self.i += 1
            return True
        return False

    def expect_punct(self, ch: str) -> None:
        if not self.punct(ch):
            raise self.fail()

    def path(self) -> FieldPath:
        tok = self.take()
        if tok.kind != "ident":
            raise self.fail(tok)
        names = [tok.text]
        while self.punct("."):
            nxt = self.take()
            if nxt.kind != "ident":
                raise self.fail(nxt)
            names.append(nxt.text)
        return tuple(names)

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.fail(tok)
        return int(tok.text)

    def query(self) -> Query:
        self.expect_kw("SELECT")
        count_only = False
        fields: list[FieldPath] = []
        if self.kw("COUNT"):
            self.expect_punct("(")
            self.expect_punct(")")
            count_only = True
        else:
            fields.append(self.path())
            while self.punct(","):
                fields.append(self.path())
        self.expect_kw("FROM")
        obj = self.take()
        if obj.kind != "ident":
            raise self.fail(obj)
        where = self.condition() if self.kw("WHERE") else None
        order: list[OrderItem] = []
        if self.kw("ORDER"):
            self.expect_kw("BY")
            while True:
                path = self.path()
                descending = self.kw("DESC")
                if not descending:
                    self.kw("ASC")
                nulls_last = descending
                if self.kw("NULLS"):
                    if self.kw("LAST"):
                        nulls_last = True
                    else:
                        self.expect_kw("FIRST")
                        nulls_last = False
                order.append(OrderItem(path, descending, nulls_last))
                if not self.punct(","):
                    break
        limit = self.integer() if self.kw("LIMIT") else None
        offset = self.integer() if self.kw("OFFSET") else None
        if self.peek().kind != "eof":
            raise self.fail()
        return Query(obj.text, tuple(fields), count_only, where, tuple(order), limit, offset)

    def condition(self) -> Condition:
        parts = [self.unary()]
        ops: set[str] = set()
        while self.peek().kind == "kw" and self.peek().text in ("AND", "OR"):
            ops.add(self.take().text)
            parts.append(self.unary())
        if len(ops) > 1:
            raise SoqlError(
                "MALFORMED_QUERY", "unexpected token: 'OR' (use parentheses to mix AND and OR)"
            )
        return parts[0] if len(parts) == 1 else Junction(ops.pop(), tuple(parts))

    def unary(self) -> Condition:
        if self.kw("NOT"):
            return Not(self.unary())
        if self.punct("("):
            inner = self.condition()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        path = self.path()
        tok = self.take()
        if tok.kind == "op":
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(path, op, self.literal())
        if tok.kind == "kw" and tok.text == "LIKE":
            return Comparison(path, "LIKE", self.literal())
        negated = tok.kind == "kw" and tok.text == "NOT"
        if negated:
            tok = self.take()
        if tok.kind == "kw" and tok.text == "IN":
            self.expect_punct("(")
            values = [self.literal()]
            while self.punct(","):
                values.append(self.literal())
            self.expect_punct(")")
            return Comparison(path, "NOT IN" if negated else "IN", tuple(values))
        raise self.fail(tok)

    def literal(self) -> Literal:
        tok = self.take()
        if tok.kind == "string":
            return Literal("string", tok.value)
        if tok.kind == "number":
            try:
                return Literal("number", Decimal(tok.text))
            except InvalidOperation:
                raise self.fail(tok) from None
        if tok.kind == "date":
            try:
                return Literal("date", date.fromisoformat(tok.text))
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid date: {tok.text}") from None
        if tok.kind == "datetime":
            text = tok.text.replace("Z", "+00:00")
            text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)
            try:
                return Literal("datetime", datetime.fromisoformat(text).astimezone(UTC))
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid datetime: {tok.text}") from None
        if tok.kind == "kw" and tok.text in ("TRUE", "FALSE"):
            return Literal("boolean", tok.text == "TRUE")
        if tok.kind == "kw" and tok.text == "NULL":
            return Literal("null", None)
        raise self.fail(tok)


def parse(text: str) -> Query:
    """The parse tree of ``text``; :class:`SoqlError` ``MALFORMED_QUERY`` if malformed."""
    if not isinstance(text, str) or not text.strip():
        raise SoqlError("MALFORMED_QUERY", "unexpected token: <end>")
    try:
        return _Parser(text).query()
    except RecursionError:
        raise SoqlError("MALFORMED_QUERY", "query too deeply nested") from None


# --- compiler ------------------------------------------------------------------------------

_TEXT = {"id", "string", "textarea", "picklist", "email", "url", "phone", "reference"}
_NUMERIC = {"currency", "double", "percent", "int"}
_ACCEPTS = {
    "string": _TEXT,
    "number": _NUMERIC,
    "boolean": {"boolean"},
    "date": {"date"},
    "datetime": {"datetime"},
}
_TYPE_WORD = {
    "date": "date",
    "datetime": "dateTime",
    "boolean": "boolean",
    "currency": "currency",
    "double": "double",
    "percent": "percent",
    "int": "integer",
}


def _norm(kind: str, value: Any) -> Any:
    """A literal or field value in comparable form."""
    if value is None:
        return None
    if kind in _TEXT:
        return str(value).casefold()
    if kind in _NUMERIC:
        return float(value)
    return value


def _like(pattern: str) -> re.Pattern[str]:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class CompiledQuery:
    """A query resolved against a schema, ready to run over records."""

    sobject: str
    select: tuple[FieldPath, ...]
    count_only: bool
    limit: int | None
    offset: int | None
    predicate: Callable[[Any, Getter], bool] | None
    order: tuple[tuple[FieldPath, str, bool, bool], ...]

    def matches(self, record: Any, get: Getter) -> bool:
        return self.predicate is None or self.predicate(record, get)

    def run(self, records: Iterable[R], get: Getter) -> list[R]:
        rows = [r for r in records if self.matches(r, get)] if self.predicate else list(records)
        for path, kind, descending, nulls_last in reversed(self.order):

            def key(
                row: Any,
                path: FieldPath = path,
                kind: str = kind,
                nulls_last: bool = nulls_last,
                descending: bool = descending,
            ) -> tuple[Any, ...]:
                value = _norm(kind, get(row, path))
                if value is None:
                    return (1 if nulls_last != descending else 0,)
                return (0 if nulls_last != descending else 1, value)

            rows.sort(key=key, reverse=descending)
        if self.offset:
            rows = rows[self.offset :]
        if self.limit is not None:
            rows = rows[: self.limit]
        return rows


class _Compiler:
    def __init__(self, sobject: str, schema: Schema) -> None:
        self.sobject = sobject
        self.schema = schema

    def resolve(self, path: FieldPath) -> tuple[FieldPath, str]:
        found = self.schema.field(self.sobject, path)
        if found is None:
            name = ".".join(path)
            raise SoqlError(
                "INVALID_FIELD",
                f"No such column '{name}' on entity "
                f"'{self.sobject}'. If you are attempting to use a custom field, be "
                "sure to append the '__c' after the custom field name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        return found

    def check(self, name: str, kind: str, literal: Literal) -> Any:
        if literal.kind == "null":
            return None
        if kind not in _ACCEPTS.get(literal.kind, set()):
            word = _TYPE_WORD.get(kind, "string")
            quoted = "and should not be enclosed in quotes" if literal.kind == "string" else ""
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{name}' must "
                f"be of type {word} {quoted}".rstrip(),
            )
        return _norm(kind, literal.value)

    def condition(self, cond: Condition) -> Callable[[Any, Getter], bool]:
        if isinstance(cond, Junction):
            parts = [self.condition(p) for p in cond.parts]
            if cond.op == "AND":
                return lambda r, g: all(p(r, g) for p in parts)
            return lambda r, g: any(p(r, g) for p in parts)
        if isinstance(cond, Not):
            inner = self.condition(cond.inner)
            return lambda r, g: not inner(r, g)
        path, kind = self.resolve(cond.path)
        name = ".".join(path)
        if cond.op in ("IN", "NOT IN"):
            assert isinstance(cond.value, tuple)
            wanted = {self.check(name, kind, v) for v in cond.value}
            if cond.op == "IN":
                return lambda r, g: _norm(kind, g(r, path)) in wanted
            return lambda r, g: _norm(kind, g(r, path)) not in wanted
        assert isinstance(cond.value, Literal)
        if cond.op == "LIKE":
            if kind not in _TEXT or cond.value.kind != "string":
                raise SoqlError("INVALID_FIELD", f"invalid operator on field '{name}': LIKE")
            regex = _like(str(cond.value.value))
            return lambda r, g: (
                (v := g(r, path)) is not None and regex.fullmatch(str(v)) is not None
            )
        target = self.check(name, kind, cond.value)
        op = cond.op
        if target is None:
            if op == "=":
                return lambda r, g: g(r, path) is None
            if op == "!=":
                return lambda r, g: g(r, path) is not None
            raise SoqlError("MALFORMED_QUERY", f"null can only be compared with = or != ({name})")
        compare: dict[str, Callable[[Any, Any], bool]] = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }
        fn = compare[op]
        if op == "!=":
            return lambda r, g: (v := _norm(kind, g(r, path))) is None or fn(v, target)
        return lambda r, g: (v := _norm(kind, g(r, path))) is not None and fn(v, target)


def compile_query(query: Query, schema: Schema) -> CompiledQuery:
    """Resolve names and types against ``schema``; :class:`SoqlError` when they do not fit."""
    sobject = schema.object_name(query.sobject)
    if sobject is None:
        raise SoqlError(
            "INVALID_TYPE",
            f"sObject type '{query.sobject}' is not supported. If "
            "you are attempting to use a custom object, be sure to append the '__c' "
            "after the entity name.",
        )
    if query.offset is not None and query.offset > MAX_OFFSET:
        raise SoqlError(
            "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
        )
    compiler = _Compiler(sobject, schema)
    select = tuple(dict.fromkeys(compiler.resolve(p)[0] for p in query.fields))
    order = []
    for item in query.order_by:
        path, kind = compiler.resolve(item.path)
        order.append((path, kind, item.descending, item.nulls_last))
    predicate = compiler.condition(query.where) if query.where is not None else None
    return CompiledQuery(
        sobject, select, query.count_only, query.limit, query.offset, predicate, tuple(order)
    )
