"""A small, pure SOQL engine for the Salesforce sandbox (standard library only, no I/O).

``parse(text)`` gives a :class:`Query` (names as written); ``compile_query(query, schema)``
resolves names against a :class:`Schema`, type-checks literals and returns a
:class:`CompiledQuery` whose ``run(records, get)`` filters, sorts, skips and limits.

Supported::

    SELECT f1, f2, Rel.Field FROM Obj | SELECT COUNT() FROM Obj
        [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n] [OFFSET n]

- keywords and names are case-insensitive; relationship paths are one level deep.
- ``cond``: ``AND`` / ``OR`` / ``NOT`` with parentheses (AND mixed with OR needs them),
  ``= != <> < <= > >=``, ``[NOT] IN (...)``, ``LIKE 'p'`` (``%`` ``_``; ``\\%`` ``\\_``
  literal), ``= null``, ``!= null``.
- literals: ``'strings'`` with ``\\' \\" \\\\ \\n \\r \\t \\b \\f \\uXXXX``; numbers, possibly
  negative or with an exponent (read as ``Decimal``); ``true`` / ``false`` / ``null``;
  ``2024-01-31``; ``2024-01-31T10:00:00[.000](Z|+01:00|-0800)``; ``TODAY``,
  ``YESTERDAY``, ``TOMORROW``, ``LAST_N_DAYS:n``, ``NEXT_N_DAYS:n``, ``N_DAYS_AGO:n``
  (whole UTC days; ``run`` and ``matches`` take ``now=``). Everything
  ``simple_salesforce.format_soql`` produces parses.

Semantics follow Salesforce: text compares and sorts case-insensitively; ``!=`` and
``NOT IN`` keep nulls, other comparisons never match null; numbers compare exactly across
int, float and Decimal; datetimes compare in UTC; ASC puts nulls first, DESC last; the
sort is stable.

Rejected with ``MALFORMED_QUERY`` (``ERROR at Row:r:Column:c`` then
``unexpected token: 'X'``, with a hint for known-unsupported features): subqueries and
semi-joins, GROUP BY / HAVING, functions other than COUNT(), TYPEOF, WITH, USING SCOPE,
FOR UPDATE, INCLUDES / EXCLUDES, bind variables, aliases, deeper paths, ``;``, bad
escapes, unterminated strings. An unknown object is ``INVALID_TYPE``; an unknown field,
a literal of the wrong type or LIKE on a non-text field is ``INVALID_FIELD``; OFFSET over
2,000 is ``NUMBER_OUTSIDE_VALID_RANGE``.

Errors::

    SoqlError(error_code, message)   # str(exc) == exc.message

Evaluation is column-at-a-time (see ``evaluate`` and ``sorting``): one ``get`` call per
row and field, comparisons inside list comprehensions, ORDER BY as plain key sorts.
"""

from sandbox.soql.compiler import CompiledQuery, compile_query
from sandbox.soql.lexer import Token, tokenize
from sandbox.soql.model import (
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
    Schema,
    SoqlError,
)
from sandbox.soql.parser import parse

__all__ = [
    "And",
    "Compare",
    "CompiledQuery",
    "Condition",
    "FieldPath",
    "In",
    "Like",
    "Literal",
    "Not",
    "Or",
    "OrderItem",
    "Query",
    "RelativeDate",
    "Schema",
    "SoqlError",
    "Token",
    "compile_query",
    "parse",
    "tokenize",
]
