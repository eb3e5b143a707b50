"""Salesforce record ids: key prefixes, the case-safe checksum, parsing of 15/18-char ids.

A Salesforce id is 15 case-sensitive base-62 characters (3-character key prefix of the
object, 2 of pod, 1 reserved, 9 of counter). The 18-character form appends three
characters that encode, five characters at a time, which letters are upper case, so an id
survives case-insensitive systems (spreadsheets, some databases). The API accepts both
forms and always answers with 18 characters; so does the sandbox.
"""

from __future__ import annotations

import itertools

__all__ = ["ORG_ID", "USER_ID", "USER_PREFIX", "IdFactory", "case_safe_id", "parse_id", "user_id"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_POD = "5g0"  # two pod characters and the reserved one, like "0065g000..." ids
#: Key prefix of User ids.
USER_PREFIX = "005"


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


def _numbered(key_prefix: str, n: int) -> str:
    """The 18-character id numbered ``n`` (0 <= n < 62**9) under ``key_prefix``."""
    digits = []
    for _ in range(9):
        n, remainder = divmod(n, 62)
        digits.append(_BASE62[remainder])
    return case_safe_id(key_prefix + _POD + "".join(reversed(digits)))


class IdFactory:
    """New ids for one key prefix, from a counter (ids are never reused, even on failure)."""

    def __init__(self, key_prefix: str) -> None:
        self.key_prefix = key_prefix
        self._counter = itertools.count(1)

    def __call__(self) -> str:
        return _numbered(self.key_prefix, next(self._counter))


def user_id(n: int) -> str:
    """A well-formed id of User number ``n`` (``n`` >= 1), e.g. a sales rep editing records
    in the UI. Users are not stored: any such id is a valid ``OwnerId`` or
    ``LastModifiedById``, and none equals :data:`USER_ID`."""
    if not 1 <= n < 62**9:
        raise ValueError(f"user number out of range: {n}")
    return _numbered(USER_PREFIX, n)


#: The sandbox org's id (``00D``) and its one user, the integration user (``005``): the
#: ``<userId>`` of a login and the ``LastModifiedById`` of every API write.
ORG_ID = case_safe_id("00D5g0000SANDBX")
USER_ID = case_safe_id(USER_PREFIX + "5g0000INTEGR")
