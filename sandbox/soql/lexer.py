"""Tokens of SOQL text, string-literal escapes and date/datetime literals."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import NamedTuple

from sandbox.soql.model import SoqlError

__all__ = ["Token", "decode_string", "like_chars", "syntax_error", "tokenize"]

_UTC = dt.UTC

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<dt>(?P<y>[0-9]{4})-(?P<mo>[0-9]{2})-(?P<d>[0-9]{2})"
    r"(?:T(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})(?:\.(?P<f>[0-9]+))?"
    r"(?P<tz>Z|[+-][0-9]{2}:?[0-9]{2}))?)(?![A-Za-z0-9_.:+-])"
    r"|(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(?![A-Za-z0-9_.])"
    rf"|(?P<name>{_NAME}(?:\.{_NAME})*)(?![A-Za-z0-9_.])"
    r"|(?P<op><=|>=|!=|<>|=|<|>|\(|\)|,|:)"
)
# Text that looks like a date but is not a valid date or datetime literal.
_DATEISH_RE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}[A-Za-z0-9_.:+-]*")
# A quoted string: any character but a quote or backslash, or a backslash and any one.
_STRING_RE = re.compile(r"'([^'\\]*(?:\\.[^'\\]*)*)'", re.DOTALL)
# What to quote as "the token" when nothing valid starts here.
_JUNK_RE = re.compile(r"[^\s(),']{1,40}")

_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b"}
_ESCAPES["f"] = "\f"
_LIKE_ESCAPES = frozenset("%_")
_HEX = frozenset("0123456789abcdefABCDEF")


class Token(NamedTuple):
    """One lexeme; ``kind`` is name, string, number, date, datetime, op or eof.

    ``value``: for a string the raw text between the quotes, a ``Decimal`` for a number,
    a ``date`` or UTC ``datetime`` for those literals. ``pos`` is the 0-based offset.
    """

    kind: str
    text: str
    pos: int
    value: str | Decimal | dt.date | None = None


def syntax_error(text: str, pos: int, detail: str) -> SoqlError:
    """MALFORMED_QUERY laid out like Salesforce's: ``ERROR at Row:r:Column:c`` then detail."""
    row = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return SoqlError(
        "MALFORMED_QUERY", f"ERROR at Row:{row}:Column:{column}\n{detail}", position=pos
    )


def _excerpt(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_string(text: str, start: int) -> tuple[Token, int]:
    """The string literal opening at ``start``; escapes are checked when it is decoded."""
    m = _STRING_RE.match(text, start)
    if m is None:
        raise syntax_error(text, start, "unterminated string literal: missing closing quote (')")
    return Token("string", m.group(), start, m.group(1)), m.end()


def _utc_offset(tz: str) -> dt.tzinfo:
    if tz == "Z":
        return _UTC
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:])
    if minutes >= 60:
        raise ValueError("minutes out of range")
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if tz[0] == "-" else delta)


def _date_token(text: str, m: re.Match[str]) -> Token:
    lexeme = m.group("dt")
    try:
        y, mo, d = int(m.group("y")), int(m.group("mo")), int(m.group("d"))
        if m.group("h") is None:
            return Token("date", lexeme, m.start(), dt.date(y, mo, d))
        micro = int((m.group("f") or "")[:6].ljust(6, "0"))
        hour, minute, second = int(m.group("h")), int(m.group("mi")), int(m.group("s"))
        local = dt.datetime(y, mo, d, hour, minute, second, micro, _utc_offset(m.group("tz")))
        return Token("datetime", lexeme, m.start(), local.astimezone(_UTC))
    except (ValueError, OverflowError) as exc:
        raise _bad_date(text, m.start(), lexeme) from exc


def _bad_date(text: str, pos: int, lexeme: str) -> SoqlError:
    return syntax_error(
        text,
        pos,
        f"invalid date or datetime literal '{_excerpt(lexeme)}': expected a real date as "
        "YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.sss] followed by Z, +hh:mm or -hhmm",
    )


def tokenize(text: str) -> list[Token]:
    """Split SOQL text into tokens, ending with an ``eof`` token."""
    tokens: list[Token] = []
    pos = 0
    end = len(text)
    while pos < end:
        if text[pos] == "'":
            tok, pos = _read_string(text, pos)
            tokens.append(tok)
            continue
        m = _TOKEN_RE.match(text, pos)
        dateish = _DATEISH_RE.match(text, pos) if text[pos].isdigit() else None
        if dateish is not None and (m is None or m.group("dt") is None or m.end() < dateish.end()):
            raise _bad_date(text, pos, dateish.group())
        if m is None:
            junk = _JUNK_RE.match(text, pos)
            bad = junk.group() if junk else text[pos]
            hint = " (SOQL statements do not end with ';')" if bad.startswith(";") else ""
            raise syntax_error(text, pos, f"unexpected token: '{bad}'{hint}")
        kind = m.lastgroup
        if kind != "ws":
            if m.group("dt") is not None:
                tokens.append(_date_token(text, m))
            elif kind == "number":
                tokens.append(Token("number", m.group(), pos, Decimal(m.group())))
            else:
                tokens.append(Token(str(kind), m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", end))
    return tokens


def _is_hex4(raw: str, start: int) -> bool:
    digits = raw[start : start + 4]
    return len(digits) == 4 and set(digits) <= _HEX


def _chars(raw: str, *, like: bool, text: str, pos: int) -> Iterator[tuple[str, bool]]:
    """Decoded characters of a string literal's ``raw`` text (at ``pos`` in ``text``),
    each with True when it came from an escape sequence."""
    i = 0
    end = len(raw)
    while i < end:
        ch = raw[i]
        if ch != "\\":
            yield ch, False
            i += 1
            continue
        nxt = raw[i + 1 : i + 2]
        if nxt in _ESCAPES:
            yield _ESCAPES[nxt], True
            i += 2
        elif nxt == "u" and _is_hex4(raw, i + 2):
            code = int(raw[i + 2 : i + 6], 16)
            # \uD83D\uDE00 spells one astral character, as in Java.
            if 0xD800 <= code < 0xDC00 and raw[i + 6 : i + 8] == "\\u" and _is_hex4(raw, i + 8):
                low = int(raw[i + 8 : i + 12], 16)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    i += 6
            yield chr(code), True
            i += 6
        elif like and nxt in _LIKE_ESCAPES:
            yield nxt, True
            i += 2
        else:
            where = "LIKE patterns only" if nxt in _LIKE_ESCAPES else "an unknown escape"
            seq = "\\" + (raw[i + 1 : i + 6] if nxt == "u" else nxt)
            raise syntax_error(
                text,
                pos + i,
                f"Invalid string literal '{_excerpt(raw)}'. Illegal character sequence "
                f"'{seq}' in string literal ({where}).",
            )


def decode_string(text: str, tok: Token) -> str:
    """The value of a string token used as a plain literal (``\\%`` and ``\\_`` refused)."""
    raw = str(tok.value)
    if "\\" not in raw:
        return raw
    return "".join([c for c, _ in _chars(raw, like=False, text=text, pos=tok.pos + 1)])


def like_chars(raw: str, *, text: str = "", pos: int = 0) -> list[tuple[str, bool]]:
    """The characters of a LIKE pattern's raw text; True marks a literal (escaped) one."""
    return list(_chars(raw, like=True, text=text or raw, pos=pos))
