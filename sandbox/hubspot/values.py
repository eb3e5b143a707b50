"""Property values: HubSpot's wire strings and the portal's compact internal form.

On the wire every value is a string (or null). Internally a ``datetime`` property holds an
``int`` of epoch milliseconds, so time filters and sorts compare integers, and every other
type holds the canonical string (enumeration values are the option's own string object, so
200k deals share one copy of each stage). ``None`` means "no value"; writing ``""`` clears.

Accepted on write, like HubSpot:

- ``datetime``: ISO 8601 (``Z`` or an offset; no zone means UTC) or epoch milliseconds;
- ``date``: ``YYYY-MM-DD``, or epoch milliseconds / an ISO instant at midnight UTC;
  anything else is refused with HubSpot's ``... UTC, not midnight!``;
- ``number``: anything ``float()`` reads as finite, kept as written;
- ``bool``: ``true`` / ``false`` (any case);
- ``enumeration``: one of the option values (``;``-separated for checkbox fields).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sandbox.hubspot.schema import PropertyDef

__all__ = [
    "MAX_STRING",
    "Invalid",
    "coerce",
    "coercer",
    "comparable",
    "ms_to_day",
    "ms_to_iso",
    "operand",
    "parse_instant",
    "renderer",
    "to_ms",
]

#: The longest string value HubSpot stores (characters).
MAX_STRING = 65_536
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_DAY_MS = 86_400_000
_EPOCH_MS = re.compile(r"-?\d{1,15}")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class Invalid(Exception):
    """A value refused for a property: HubSpot's error code and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an instant (a naive ``datetime`` is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _ONE_MS


def ms_to_iso(ms: int) -> str:
    """``2024-01-02T03:04:05.678Z``: fixed width, so the strings sort like the instants."""
    seconds, milli = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{milli:03d}Z"
    )


def ms_to_day(ms: int) -> str:
    """The UTC calendar day of an instant, ``YYYY-MM-DD``."""
    t = time.gmtime(ms // 1000)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"


def parse_instant(text: str) -> int | None:
    """Epoch milliseconds from ``"1704067200000"`` or an ISO string; ``None`` if neither."""
    text = text.strip()
    if "-" in text[1:] or ":" in text:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
        return to_ms(moment)
    return int(text) if _EPOCH_MS.fullmatch(text) else None


def _text(raw: object) -> str:
    """A JSON scalar as HubSpot reads it (numbers and booleans become their text)."""
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, int | float):
        return repr(raw)
    raise Invalid("INVALID_TYPE", f"{raw!r} is not a string, number or boolean")


def _string(prop: PropertyDef, text: str) -> str:
    if len(text) > MAX_STRING:
        raise Invalid(
            "INVALID_STRING_LENGTH",
            f"The value for {prop.name} is {len(text)} characters long; "
            f"the maximum is {MAX_STRING}",
        )
    return text


def _enumeration(prop: PropertyDef, text: str) -> str:
    choices = prop.choices
    parts = text.split(";") if prop.field_type == "checkbox" else [text]
    picked: list[str] = []
    for part in parts:
        value = choices.get(part)
        if value is None:
            allowed = ", ".join(choices)
            raise Invalid(
                "INVALID_OPTION",
                f"{part} was not one of the allowed options: [{allowed}]",
            )
        picked.append(value)
    return picked[0] if len(picked) == 1 else ";".join(picked)


def _number(prop: PropertyDef, text: str) -> str:
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise Invalid("INVALID_INTEGER", f"{text} is not a valid number for {prop.name}")
    return text.strip()


def _bool(prop: PropertyDef, text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise Invalid("INVALID_BOOLEAN", f"{text} is not a valid boolean (true or false)")
    return lowered


def _not_midnight(text: str, ms: int) -> Invalid:
    rest = ms % _DAY_MS
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, milli = divmod(rest, 1000)
    return Invalid(
        "INVALID_DATE", f"{text} is at {hours}:{minutes}:{seconds}.{milli} UTC, not midnight!"
    )


def _date(prop: PropertyDef, text: str) -> str:
    text = text.strip()
    if _DAY.fullmatch(text):
        try:
            date.fromisoformat(text)
        except ValueError:
            raise Invalid("INVALID_DATE", f"{text} is not a valid date") from None
        return text
    ms = parse_instant(text)
    if ms is None:
        raise Invalid("INVALID_DATE", f"{text} is not a valid date (YYYY-MM-DD)")
    if ms % _DAY_MS:
        raise _not_midnight(text, ms)
    return ms_to_day(ms)


def _datetime(prop: PropertyDef, text: str) -> int:
    ms = parse_instant(text)
    if ms is None:
        raise Invalid(
            "INVALID_DATETIME",
            f"{text} is not a valid datetime (ISO 8601 or epoch milliseconds)",
        )
    return ms


_COERCE: dict[str, Callable[[PropertyDef, str], Any]] = {
    "string": _string,
    "enumeration": _enumeration,
    "number": _number,
    "bool": _bool,
    "date": _date,
    "datetime": _datetime,
}


def coerce(prop: PropertyDef, raw: object) -> Any:
    """The internal value of a written value (``None`` clears); raises :class:`Invalid`."""
    return coercer(prop)(raw)


def coercer(prop: PropertyDef) -> Callable[[object], Any]:
    """:func:`coerce` for one property, with fast paths for the common cases (seeding)."""
    parse = _COERCE[prop.type]
    if prop.type == "enumeration" and prop.field_type != "checkbox":
        choices = prop.choices

        def convert_option(raw: object) -> Any:
            if raw is None or raw == "":
                return None
            value = choices.get(raw) if type(raw) is str else None
            return value if value is not None else parse(prop, _text(raw))

        return convert_option

    def convert(raw: object) -> Any:
        if raw is None:
            return None
        text = raw if type(raw) is str else _text(raw)
        return None if text == "" else parse(prop, text)

    return convert


def _iso_or_none(value: Any) -> str | None:
    return None if value is None else ms_to_iso(value)


def _identity(value: Any) -> Any:
    return value


def renderer(prop: PropertyDef) -> Callable[[Any], str | None]:
    """Internal value -> wire string of one property."""
    return _iso_or_none if prop.type == "datetime" else _identity


def operand(prop: PropertyDef, raw: object) -> Any:
    """A search filter's value in the form :func:`comparable` gives stored values."""
    text = _text(raw).strip()
    if prop.type == "number":
        try:
            return float(text)
        except ValueError:
            raise Invalid("INVALID_NUMBER", f"{text} is not a number") from None
    if prop.type in ("datetime", "date"):
        ms = parse_instant(text)
        if ms is None:
            raise Invalid("INVALID_DATE", f"{text} is not a date or epoch milliseconds")
        return ms if prop.type == "datetime" else ms_to_day(ms)
    return text.lower()


def _float(value: Any) -> float:
    return float(value)


def _lower(value: Any) -> str:
    return str(value).lower()


def comparable(prop: PropertyDef) -> Callable[[Any], Any] | None:
    """Stored (non-null) value -> the key filters compare and sorts order by.

    ``None`` when stored values already compare correctly (instants and days).
    """
    if prop.type == "number":
        return _float
    if prop.type in ("datetime", "date"):
        return None
    return _lower
