"""Recursive-descent parser for the supported SOQL subset (see the package docstring)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sandbox.soql.lexer import Token, decode_string, like_chars, syntax_error, tokenize
from sandbox.soql.model import (
    MAX_LIMIT,
    MAX_OFFSET,
    RELATIVE_DATES,
    And,
    Compare,
    Condition,
    FieldPath,
    In,
    Like,
    Literal,
    Not,
    Or,
    OrderItem,
    Query,
    RelativeDate,
    SoqlError,
)

__all__ = ["parse"]

# Salesforce's reserved words: never a field or object name.
_RESERVED = frozenset(
    {"and", "asc", "desc", "excludes", "first", "from", "group", "having", "in", "includes"}
    | {"last", "like", "limit", "not", "null", "nulls", "or", "select", "where", "with"}
)
# Constructs of full SOQL this engine leaves out: what the error adds after the token.
_UNSUPPORTED = {
    "group": "GROUP BY is not supported by the sandbox",
    "having": "HAVING is not supported by the sandbox",
    "with": "WITH clauses are not supported by the sandbox",
    "using": "USING SCOPE is not supported by the sandbox",
    "for": "FOR VIEW/REFERENCE/UPDATE is not supported by the sandbox",
    "update": "UPDATE TRACKING/VIEWSTAT is not supported by the sandbox",
    "includes": "INCLUDES on multi-select picklists is not supported by the sandbox",
    "excludes": "EXCLUDES on multi-select picklists is not supported by the sandbox",
    "typeof": "TYPEOF is not supported by the sandbox",
    "select": "subqueries are not supported by the sandbox",
    ":": "':' only follows N-day literals such as LAST_N_DAYS:30; bind variables are Apex-only",
}
_OPERATORS = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})
_MAX_DEPTH = 64


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.pos = 0
        self.depth = 0

    # --- token helpers -------------------------------------------------------------------

    def peek(self, ahead: int = 0) -> Token:
        return self.toks[min(self.pos + ahead, len(self.toks) - 1)]

    def fail(self, hint: str | None = None, tok: Token | None = None) -> SoqlError:
        """``unexpected token: 'X'`` at the current (or given) token, with a hint if known."""
        tok = tok or self.peek()
        shown = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
        if hint is None and tok.kind in ("name", "op"):
            hint = _UNSUPPORTED.get(tok.text.lower())
        detail = f"unexpected token: '{shown}'" + (f" ({hint})" if hint else "")
        return syntax_error(self.text, tok.pos, detail)

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

    def is_op(self, op: str, ahead: int = 0) -> bool:
        tok = self.peek(ahead)
        return tok.kind == "op" and tok.text == op

    def accept_op(self, op: str) -> bool:
        if self.is_op(op):
            self.pos += 1
            return True
        return False

    def expect_op(self, op: str) -> None:
        if not self.accept_op(op):
            raise self.fail()

    def nest(self) -> None:
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self.fail(f"conditions nest deeper than {_MAX_DEPTH} levels")

    # --- clauses -------------------------------------------------------------------------

    def name(self, what: str) -> FieldPath:
        """A field path (``Name`` or ``Account.Name``) or an object name."""
        tok = self.peek()
        if tok.kind != "name" or tok.text.lower() in _RESERVED:
            raise self.fail()
        if self.is_op("(", 1):
            raise self.fail(
                "functions such as MAX() or CALENDAR_YEAR() are not supported; "
                "only SELECT COUNT() is",
                tok,
            )
        if tok.text.lower() == "typeof" and self.peek(1).kind == "name":
            raise self.fail(tok=tok)
        path = tuple(tok.text.split("."))
        if len(path) > (1 if what == "object" else 2):
            allowed = "an object name" if what == "object" else "one-level relationship paths"
            raise self.fail(f"only {allowed} are supported by the sandbox", tok)
        self.pos += 1
        return path

    def query(self) -> Query:
        self.expect_kw("select")
        fields: list[FieldPath] = []
        count_only = self.is_kw("count") and self.is_op("(", 1) and self.is_op(")", 2)
        if count_only:
            self.pos += 3
        elif self.is_op("("):
            raise self.fail("subqueries are not supported by the sandbox")
        else:
            fields.append(self.name("field"))
            while self.accept_op(","):
                if self.is_op("("):
                    raise self.fail("subqueries are not supported by the sandbox")
                fields.append(self.name("field"))
        self.expect_kw("from")
        sobject = self.name("object")[0]
        where = self.condition() if self.accept_kw("where") else None
        order: list[OrderItem] = []
        if self.is_kw("order") and self.is_kw("by", 1):
            self.pos += 2
            order.append(self.order_item())
            while self.accept_op(","):
                order.append(self.order_item())
        limit = self.integer("LIMIT") if self.accept_kw("limit") else None
        offset = self.integer("OFFSET") if self.accept_kw("offset") else None
        if self.peek().kind != "eof":
            raise self.fail()
        return Query(sobject, tuple(fields), count_only, where, tuple(order), limit, offset)

    def integer(self, clause: str) -> int:
        tok = self.peek()
        if tok.kind != "number" or not tok.text.isdigit():
            raise self.fail(f"{clause} takes a non-negative integer")
        value = int(tok.text)
        limit = MAX_OFFSET if clause == "OFFSET" else MAX_LIMIT
        if value > limit:
            message = (
                f"Maximum SOQL offset allowed is {MAX_OFFSET}"
                if clause == "OFFSET"
                else f"LIMIT must be at most {MAX_LIMIT}"
            )
            raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", message, position=tok.pos)
        self.pos += 1
        return value

    def order_item(self) -> OrderItem:
        path = self.name("field")
        descending = self.accept_kw("desc")
        if not descending:
            self.accept_kw("asc")
        nulls_last = descending
        if self.accept_kw("nulls"):
            if self.accept_kw("last"):
                nulls_last = True
            else:
                self.expect_kw("first")
                nulls_last = False
        return OrderItem(path, descending, nulls_last)

    # --- WHERE ---------------------------------------------------------------------------

    def condition(self) -> Condition:
        """Terms joined by AND or by OR: mixing them needs parentheses, as in Salesforce."""
        self.nest()
        items = [self.term()]
        joiner: str | None = None
        while self.is_kw("and") or self.is_kw("or"):
            word = self.peek().text.lower()
            if joiner is not None and word != joiner:
                raise self.fail("use parentheses to combine AND with OR")
            joiner = word
            self.pos += 1
            items.append(self.term())
        self.depth -= 1
        if joiner is None:
            return items[0]
        return And(tuple(items)) if joiner == "and" else Or(tuple(items))

    def term(self) -> Condition:
        if self.accept_kw("not"):
            self.nest()
            item = self.term()
            self.depth -= 1
            return Not(item)
        if self.accept_op("("):
            if self.is_kw("select"):
                raise self.fail()
            inner = self.condition()
            self.expect_op(")")
            return inner
        path = self.name("field")
        if self.accept_kw("like"):
            tok = self.peek()
            if tok.kind != "string":
                raise self.fail("LIKE takes a quoted pattern")
            like_chars(str(tok.value), text=self.text, pos=tok.pos + 1)  # check escapes
            self.pos += 1
            return Like(path, str(tok.value))
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
        if tok.kind != "op" or tok.text not in _OPERATORS:
            raise self.fail()
        self.pos += 1
        return Compare(path, "!=" if tok.text == "<>" else tok.text, self.literal())

    def literal(self) -> Literal:
        tok = self.peek()
        self.pos += 1
        if tok.kind == "string":
            return decode_string(self.text, tok)
        if tok.kind in ("number", "date", "datetime") and isinstance(tok.value, Decimal | dt.date):
            return tok.value
        word = tok.text.lower() if tok.kind == "name" else ""
        if word in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[word]
        relative = tok.text.upper()
        if tok.kind == "name" and relative in RELATIVE_DATES:
            if not RELATIVE_DATES[relative][0]:
                return RelativeDate(relative)
            self.expect_op(":")
            n = self.peek()
            if n.kind != "number" or not n.text.isdigit() or len(n.text) > 6:
                raise self.fail(f"{relative} takes ':n' with n a non-negative integer")
            self.pos += 1
            return RelativeDate(relative, int(n.text))
        self.pos -= 1
        plain_name = tok.kind == "name" and tok.text.lower() not in _UNSUPPORTED
        hint = "compare a field with a literal value" if plain_name else None
        raise self.fail(hint)


def parse(text: str) -> Query:
    """Parse SOQL text into a :class:`Query`; any syntax problem raises ``SoqlError``.

    The code is MALFORMED_QUERY, or NUMBER_OUTSIDE_VALID_RANGE for OFFSET above 2,000.
    """
    return _Parser(text).query()
