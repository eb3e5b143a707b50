"""What the partner program's services share: their errors, the policy from the settings,
and the checks every input from a person or a file goes through.

A :class:`ProgramError` is a request the program refuses: bad input (a partner id with a
space, an unknown tier) or a decision the rules refuse (approving while another partner
holds the customer). Its message is one line a person can act on; the command line
exits 2 with it, the HTTP API answers 4xx with its ``code``.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal, InvalidOperation

from rules.registration import Policy
from sync.settings import ProgramSettings

__all__ = [
    "Conflict",
    "NotFound",
    "ProgramError",
    "checked_amount",
    "checked_currency",
    "checked_date",
    "checked_id",
    "checked_text",
    "policy",
]

_PARTNER_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class ProgramError(ValueError):
    """A request the partner program refuses; ``code`` is stable, ``field`` names the
    input at fault when there is one."""

    code = "invalid"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.field = field


class NotFound(ProgramError):
    """The partner, registration or account asked for does not exist."""

    code = "not_found"


class Conflict(ProgramError):
    """The request collides with the state of things (an illegal transition, a holder)."""

    code = "conflict"


def policy(program: ProgramSettings) -> Policy:
    """The rules' :class:`~rules.registration.Policy` from ``[program]``."""
    return Policy(
        protection_days=dict(program.protection_days),
        extension_days=program.extension_days,
        max_extensions=program.max_extensions,
        min_amount=program.min_amount,
        practices=frozenset(program.practices),
        auto_approve=program.auto_approve,
        fuzzy_threshold=program.fuzzy_threshold,
    )


def checked_id(value: str, field: str = "id") -> str:
    """A partner id: letters, digits, ``.``, ``_``, ``-``, 1 to 32 of them."""
    if not isinstance(value, str) or not _PARTNER_ID.fullmatch(value):
        raise ProgramError(
            f"{field}: a partner id is 1 to 32 letters, digits, '.', '_' or '-' "
            f"(got {_shown(value)})",
            field=field,
        )
    return value


def checked_text(
    value: str | None, field: str, *, max_length: int = 255, required: bool = True
) -> str | None:
    """Text from a person or a file, stripped; refused when it holds a control character
    (a NUL, a newline) or is longer than its column; ``None`` when blank and optional."""
    text = (value or "").strip()
    if not text:
        if required:
            raise ProgramError(f"{field}: required", field=field)
        return None
    if any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\u200d" for ch in text):
        raise ProgramError(f"{field}: control characters are not allowed", field=field)
    if len(text) > max_length:
        raise ProgramError(
            f"{field}: at most {max_length} characters (got {len(text)})", field=field
        )
    return text


def checked_amount(value: str | Decimal | int | None, field: str = "amount") -> Decimal | None:
    """An amount: a decimal number of at most 4 decimal places, not negative."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, float):
        raise ProgramError(f"{field}: give money as text or an integer, not a float", field=field)
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise ProgramError(f"{field}: not a number ({_shown(value)})", field=field) from None
    if not amount.is_finite() or amount < 0:
        raise ProgramError(f"{field}: must be 0 or more (got {_shown(value)})", field=field)
    if amount.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ProgramError(f"{field}: at most 4 decimal places (got {amount})", field=field)
    if amount >= Decimal("1e14"):
        raise ProgramError(f"{field}: too large (got {amount})", field=field)
    return amount


def checked_currency(value: str | None, field: str = "currency") -> str | None:
    """An ISO 4217 code (three letters; case does not matter)."""
    if value is None or not value.strip():
        return None
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise ProgramError(f"{field}: a three-letter ISO code (got {_shown(value)})", field=field)
    return code


def checked_date(value: str | date | None, field: str) -> date | None:
    """A date, ``YYYY-MM-DD``."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ProgramError(
            f"{field}: a date YYYY-MM-DD (got {_shown(value)})", field=field
        ) from None


def _shown(value: object) -> str:
    """``value`` as it may appear in a one-line message: repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
