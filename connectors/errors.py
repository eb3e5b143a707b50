"""The one error tree every CRM adapter raises, split by the action each calls for.

::

    CrmError
    ├── ConfigurationError   fix the settings or the mapping; never retried
    ├── AuthExpired          re-authenticate once, then it is a ConfigurationError
    ├── RateLimited          wait ``retry_after`` seconds, then retry
    ├── QuotaExhausted       the daily allocation is spent: stop, and wait for the reset
    ├── Transient            5xx, connection failures, UNABLE_TO_LOCK_ROW, Salesforce's
    │                        ConcurrentRequests limit: retry with backoff
    └── RecordRejected       one record refused (validation, deleted): set aside, go on

Adapters translate the client libraries' exceptions at the boundary (``raise ... from
exc``); nothing outside ``connectors/`` sees a simple-salesforce or HubSpot exception.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuthExpired",
    "ConfigurationError",
    "CrmError",
    "QuotaExhausted",
    "RateLimited",
    "RecordRejected",
    "Transient",
]


class CrmError(Exception):
    """Any failure talking to a CRM. ``crm`` names it; ``code`` is the CRM's error code."""

    def __init__(self, message: str, *, crm: str = "", code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.crm = crm
        self.code = code

    def __str__(self) -> str:
        prefix = f"{self.crm}: " if self.crm else ""
        suffix = f" [{self.code}]" if self.code else ""
        return f"{prefix}{self.message}{suffix}"


class ConfigurationError(CrmError):
    """Credentials, permissions, field names or queries are wrong: a person must act."""


class AuthExpired(CrmError):
    """The session or token expired; a fresh login may fix it (once)."""


class RateLimited(CrmError):
    """The CRM asked us to slow down; retry after ``retry_after`` seconds."""

    def __init__(
        self, message: str, *, retry_after: float, crm: str = "", code: str | None = None
    ) -> None:
        super().__init__(message, crm=crm, code=code)
        self.retry_after = retry_after


class QuotaExhausted(CrmError):
    """The daily API allocation is spent; nothing helps until it resets.

    Not a :class:`RateLimited`: retrying soon only spends calls the CRM refuses, so a pull
    or push that meets it stops at once, leaving what it has not done untouched for the
    run after the reset (``retry_after``: seconds until then, as far as the CRM says).
    """

    def __init__(
        self, message: str, *, retry_after: float, crm: str = "", code: str | None = None
    ) -> None:
        super().__init__(message, crm=crm, code=code)
        self.retry_after = retry_after


class Transient(CrmError):
    """A failure that a later attempt may not meet (5xx, network, record lock, too many
    long-running requests in flight)."""

    def __init__(
        self,
        message: str,
        *,
        crm: str = "",
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, crm=crm, code=code)
        self.retry_after = retry_after


class RecordRejected(CrmError):
    """The CRM refused one record; the others go on."""

    def __init__(
        self,
        message: str,
        *,
        record_id: str,
        crm: str = "",
        code: str | None = None,
        fields: Sequence[str] = (),
    ) -> None:
        super().__init__(message, crm=crm, code=code)
        self.record_id = record_id
        self.fields = tuple(fields)
