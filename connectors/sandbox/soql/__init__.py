"""A small, pure SOQL engine for the Salesforce sandbox.

``parse`` turns query text into a :class:`Query`; ``compile_query`` checks it against a
:class:`Schema` and returns a :class:`CompiledQuery` whose WHERE clause is compiled to
closures once, so filtering and sorting large record lists stays fast.
"""

from connectors.sandbox.soql.compiler import CompiledQuery, compile_query
from connectors.sandbox.soql.model import (
    And,
    Compare,
    FieldPath,
    In,
    Like,
    Not,
    Or,
    OrderItem,
    Query,
    Schema,
    SoqlError,
    StrLit,
)
from connectors.sandbox.soql.parser import parse, tokenize

__all__ = [
    "And",
    "Compare",
    "CompiledQuery",
    "FieldPath",
    "In",
    "Like",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "Schema",
    "SoqlError",
    "StrLit",
    "compile_query",
    "parse",
    "tokenize",
]
