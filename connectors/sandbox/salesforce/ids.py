"""Salesforce record ids: key prefixes, the case-safe checksum, parsing of 15/18-char ids.

A Salesforce id is 15 case-sensitive base-62 characters (3-character key prefix of the
object, 2 of pod, 1 reserved, 9 of counter). The 18-character form appends three
characters that encode, five characters at a time, which letters are upper case, so an id
survives case-insensitive systems (spreadsheets, some databases). The API accepts both
forms and always answers with 18 characters; so does the sandbox.
"""

from __future__ import annotations

import itertools

__all__ = ["ORG_ID", "USER_ID", "IdFactory", "case_safe_id", "parse_id"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_POD = "5g0"  # two pod characters and the reserved one, like "0065g000..." ids


def _checksum(id15: str) -> str:
    suffix = []
    for start in (0, 5, 10):
        bits = 0
        for offset in range(5):
            if id15[start + offset] in _UPPER:
                bits |= 1 << offset
        suffix.append(_SUFFIX[bits])
    return "".join(suffix)


def case_safe_id(id15: str) -> str:
    """The 18-character id of a 15-character one (its case-safety checksum appended)."""
    return id15 + _checksum(id15)


def parse_id(raw: str) -> str | None:
    """The canonical 18-character id for a 15- or 18-character id, or None if malformed.

    An 18-character id whose letters lost their case (the suffix says which were upper
    case) is restored, as Salesforce does; a suffix that cannot describe the id is refused.
    """
    if not (raw.isascii() and raw.isalnum()):
        return None
    if len(raw) == 15:
        return raw + _checksum(raw)
    if len(raw) != 18:
        return None
    body, suffix = raw[:15], raw[15:].upper()
    if _checksum(body) == suffix:
        return body + suffix
    chars = list(body)
    for chunk, code in enumerate(suffix):
        bits = _SUFFIX.find(code)
        if bits < 0:
            return None
        for offset in range(5):
            position = chunk * 5 + offset
            char = chars[position]
            if bits >> offset & 1:
                if not char.isalpha():
                    return None
                chars[position] = char.upper()
            else:
                chars[position] = char.lower()
    return "".join(chars) + suffix


class IdFactory:
    """New ids for one key prefix, from a counter (ids are never reused, even on failure)."""

    def __init__(self, key_prefix: str) -> None:
        self.key_prefix = key_prefix
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        n = next(self._counter)
        digits = []
        for _ in range(9):
            n, remainder = divmod(n, 62)
            digits.append(_BASE62[remainder])
        return case_safe_id(self.key_prefix + _POD + "".join(reversed(digits)))


#: The sandbox org's id (``00D``) and its one user, the integration user (``005``).
ORG_ID = case_safe_id("00D5g0000SANDBX")
USER_ID = case_safe_id("0055g0000INTEGR")
