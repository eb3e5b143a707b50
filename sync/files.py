"""Declarative files (mappings now, agreements next): read TOML, report every problem.

A file is read with :func:`read_toml` and compiled by a subclass of :class:`FileCompiler`,
which walks the parsed data, collects a :class:`FileProblem` for each thing wrong (the
file, the dotted key path, what is allowed) and raises them together as a
:class:`FileError`, so a person fixes a file in one pass::

    mappings/hubspot.toml: outbound.payout_status.values.payed: unknown payout
    state 'payed' (expected one of: accrued, approved, scheduled, paid, reversed)

Key paths quote a key that is not a bare TOML key (``outbound."Account.Name"``) and
index arrays of tables (``rules[2].percent``).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FileCompiler", "FileError", "FileProblem", "key_path", "quote_key", "read_toml"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class FileProblem:
    """One problem in a file: where (dotted key path, ``""`` for the whole file) and what."""

    file: str
    key: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.file}: {self.key}: {self.message}"
            if self.key
            else f"{self.file}: {self.message}"
        )


class FileError(Exception):
    """A file is invalid; :attr:`problems` lists every problem found, one line each."""

    def __init__(self, problems: list[FileProblem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def quote_key(key: str) -> str:
    """``key`` as it is written in a TOML key path: bare when it can be, else quoted."""
    return key if _BARE_KEY.fullmatch(key) else f'"{key}"'


def key_path(*parts: str | int) -> str:
    """``("rules", 2, "percent")`` -> ``rules[2].percent``; string parts quoted as needed."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + quote_key(part)
    return out


def read_toml(path: str | Path, error: type[FileError] = FileError) -> dict[str, Any]:
    """The TOML document at ``path``; ``error`` (one problem) when unreadable or invalid."""
    file = Path(path)
    try:
        return parse_toml(file.read_text(encoding="utf-8"), str(file), error)
    except OSError as exc:
        raise error([FileProblem(str(file), "", f"cannot read: {exc.strerror}")]) from None
    except UnicodeDecodeError:
        raise error([FileProblem(str(file), "", "not UTF-8 text")]) from None


def parse_toml(text: str, source: str, error: type[FileError] = FileError) -> dict[str, Any]:
    """The TOML document ``text`` (``source`` names it in the error)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error([FileProblem(source, "", f"not valid TOML: {exc}")]) from None


class FileCompiler:
    """Walks one parsed file, collecting problems; subclasses compile their format.

    Helpers record a problem and return a neutral value (``{}``, ``None``), so the walk
    goes on and every problem of the file is found in one pass. :meth:`raise_problems`
    ends the walk.
    """

    error: type[FileError] = FileError

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[FileProblem] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append(FileProblem(self.source, key, message))

    def raise_problems(self) -> None:
        if self.problems:
            raise self.error(self.problems)

    def unknown_keys(self, data: dict[str, Any], where: str, known: Iterable[str]) -> None:
        """A problem for each key of ``data`` (at key path ``where``) not in ``known``."""
        allowed = list(known)
        for key in data:
            if key not in allowed:
                path = f"{where}.{quote_key(key)}" if where else quote_key(key)
                self.problem(path, f"unknown key (expected one of: {', '.join(allowed)})")

    def table(self, data: dict[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
        """The table ``data[key]`` (``{}`` and a problem when missing or not a table)."""
        value = data.get(key)
        if value is None:
            if required:
                self.problem(key, f"missing table [{key}]")
            return {}
        if not isinstance(value, dict):
            self.problem(key, f"must be a table [{key}]")
            return {}
        return value
