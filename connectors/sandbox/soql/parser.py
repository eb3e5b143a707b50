"""Tokenizer and recursive-descent parser for the supported SOQL subset."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from connectors.sandbox.soql.model import (
    MAX_OFFSET,
    And,
    Compare,
    FieldPath,
    In,
    Like,
    Literal,
    Not,
    Or,
    OrderItem,
    Query,
    SoqlError,
    StrLit,
)

_UTC = dt.UTC
_MAX_DEPTH = 64

# --- tokenizer ---------------------------------------------------------------------------

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<dt>(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]+))?"
    r"(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2}))?)(?![A-Za-z0-9_.:])"
    r"|(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.])"
    rf"|(?P<name>{_NAME}(?:\.{_NAME})*)"
    r"|(?P<op><=|>=|!=|<>|=|<|>|\(|\)|,)"
)
ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b"}
ESCAPES["f"] = "\f"
_LIKEESCAPES = {"%": "%", "_": "_"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # name, str, num, date, datetime, op, eof
    text: str
    value: object = None


def _malformed(text: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", f"unexpected token: '{text}'")


def _read_string(text: str, start: int) -> tuple[_Tok, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "'":
            raw = text[start + 1 : i]
            return _Tok("str", text[start : i + 1], StrLit("".join(out), raw)), i + 1
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt in ESCAPES:
                out.append(ESCAPES[nxt])
            elif nxt in _LIKEESCAPES:
                out.append(nxt)
            else:
                raise SoqlError("MALFORMED_QUERY", f"invalid escape sequence: '\\{nxt}'")
            i += 2
            continue
        out.append(ch)
        i += 1
    raise SoqlError("MALFORMED_QUERY", "unterminated string literal")


def _datetime_token(m: re.Match[str]) -> _Tok:
    text = m.group("dt")
    try:
        y, mo, d = int(m.group("y")), int(m.group("mo")), int(m.group("d"))
        if m.group("h") is None:
            return _Tok("date", text, dt.date(y, mo, d))
        frac = (m.group("f") or "")[:6].ljust(6, "0")
        tz = m.group("tz")
        if tz == "Z":
            tzinfo = _UTC
        else:
            digits = tz[1:].replace(":", "")
            delta = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tzinfo = dt.timezone(-delta if tz[0] == "-" else delta)
        value = dt.datetime(
            y, mo, d, int(m.group("h")), int(m.group("mi")), int(m.group("s")), int(frac), tzinfo
        ).astimezone(_UTC)
    except (ValueError, OverflowError) as exc:
        raise _malformed(text) from exc
    return _Tok("datetime", text, value)


def tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos] == "'":
            tok, pos = _read_string(text, pos)
            tokens.append(tok)
            continue
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise _malformed(text[pos])
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        if m.group("dt") is not None:
            tokens.append(_datetime_token(m))
        elif kind == "num":
            tokens.append(_Tok("num", m.group(), Decimal(m.group())))
        else:
            tokens.append(_Tok(str(kind), m.group()))
    tokens.append(_Tok("eof", "<EOF>"))
    return tokens


# --- parser ------------------------------------------------------------------------------

_RESERVED = frozenset(
    {"select", "from", "where", "order", "by", "asc", "desc", "nulls", "first", "last"}
    | {"limit", "offset", "and", "or", "not", "in", "like", "group", "having", "null"}
    | {"includes", "excludes", "true", "false"}
)


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokenize(text)
        self.pos = 0
        self.depth = 0

    def peek(self, ahead: int = 0) -> _Tok:
        return self.toks[min(self.pos + ahead, len(self.toks) - 1)]

    def fail(self) -> SoqlError:
        tok = self.peek()
        if tok.kind == "eof":
            return SoqlError("MALFORMED_QUERY", "unexpected token: <EOF>")
        return _malformed(tok.text)

    def is_kw(self, word: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "name" and tok.text.lower() == word

    def accept_kw(self, word: str) -> bool:
        if self.is_kw(word):
            self.pos += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.accept_kw(word):
            raise self.fail()

    def accept_op(self, op: str) -> bool:
        tok = self.peek()
        if tok.kind == "op" and tok.text == op:
            self.pos += 1
            return True
        return False

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise self.fail()

    def field(self) -> FieldPath:
        tok = self.peek()
        if tok.kind != "name" or tok.text.lower() in _RESERVED:
            raise self.fail()
        self.pos += 1
        return tuple(tok.text.split("."))

    def query(self) -> Query:
        self.expect_kw("select")
        fields: list[FieldPath] = []
        count_only = False
        if self.is_kw("count") and self.peek(1).text == "(":
            self.pos += 2
            self.expect_op(")")
            count_only = True
        else:
            fields.append(self.field())
            while self.accept_op(","):
                fields.append(self.field())
        self.expect_kw("from")
        sobject = self.field()
        if len(sobject) != 1:
            raise _malformed(".".join(sobject))
        where = self.condition() if self.accept_kw("where") else None
        order: list[OrderItem] = []
        if self.accept_kw("order"):
            self.expect_kw("by")
            order.append(self.order_item())
            while self.accept_op(","):
                order.append(self.order_item())
        limit = self.integer() if self.accept_kw("limit") else None
        offset = self.integer() if self.accept_kw("offset") else None
        if self.peek().kind != "eof":
            raise self.fail()
        if offset is not None and offset > MAX_OFFSET:
            raise SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"Maximum SOQL offset allowed is {MAX_OFFSET}",
            )
        return Query(sobject[0], tuple(fields), count_only, where, tuple(order), limit, offset)

    def integer(self) -> int:
        tok = self.peek()
        if tok.kind != "num" or not tok.text.isdigit():
            raise self.fail()
        if len(tok.text) > 9:
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", f"number too large: {tok.text}")
        self.pos += 1
        return int(tok.text)

    def order_item(self) -> OrderItem:
        path = self.field()
        descending = False
        if self.accept_kw("desc"):
            descending = True
        else:
            self.accept_kw("asc")
        nulls_last = descending
        if self.accept_kw("nulls"):
            if self.accept_kw("last"):
                nulls_last = True
            else:
                self.expect_kw("first")
                nulls_last = False
        return OrderItem(path, descending, nulls_last)

    def condition(self) -> object:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise SoqlError("MALFORMED_QUERY", "query is nested too deeply")
        items = [self.term()]
        joiner: str | None = None
        while self.is_kw("and") or self.is_kw("or"):
            word = self.peek().text.lower()
            if joiner is not None and word != joiner:
                raise self.fail()
            joiner = word
            self.pos += 1
            items.append(self.term())
        self.depth -= 1
        if joiner is None:
            return items[0]
        return And(tuple(items)) if joiner == "and" else Or(tuple(items))

    def term(self) -> object:
        if self.accept_kw("not"):
            self.depth += 1
            if self.depth > _MAX_DEPTH:
                raise SoqlError("MALFORMED_QUERY", "query is nested too deeply")
            item = self.term()
            self.depth -= 1
            return Not(item)
        if self.accept_op("("):
            inner = self.condition()
            self.expect_op(")")
            return inner
        path = self.field()
        if self.accept_kw("like"):
            tok = self.peek()
            if tok.kind != "str" or not isinstance(tok.value, StrLit):
                raise self.fail()
            self.pos += 1
            return Like(path, tok.value)
        negated = self.accept_kw("not")
        if negated or self.is_kw("in"):
            self.expect_kw("in")
            self.expect_op("(")
            values = [self.literal()]
            while self.accept_op(","):
                values.append(self.literal())
            self.expect_op(")")
            return In(path, tuple(values), negated)
        tok = self.peek()
        if tok.kind != "op" or tok.text in "(),":
            raise self.fail()
        self.pos += 1
        op = "!=" if tok.text == "<>" else tok.text
        return Compare(path, op, self.literal())

    def literal(self) -> Literal:
        tok = self.peek()
        value: Literal
        if tok.kind != "name" and isinstance(tok.value, StrLit | Decimal | dt.date):
            value = tok.value
        elif tok.kind == "name" and tok.text.lower() in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[tok.text.lower()]
        else:
            raise self.fail()
        self.pos += 1
        return value


def parse(text: str) -> Query:
    """Parse SOQL text; any syntax problem raises ``SoqlError('MALFORMED_QUERY', ...)``."""
    return _Parser(text).query()
