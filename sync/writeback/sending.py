"""What the push's writes share: a request's failure as each record's result, and backoff.

A batch request either answers per record (:class:`~connectors.base.WriteResult`) or fails
as a whole. :func:`guarded` turns a whole failure into each record's result: transient
trouble and rate limits that outlasted the connector's own retries mean "later"; the CRM
refusing the request itself rejects each record with its code and message.
Configuration and authentication errors, and a spent daily API allocation, are raised:
they stop the push.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from connectors.base import WriteOutcome, WriteResult
from connectors.errors import (
    AuthExpired,
    ConfigurationError,
    CrmError,
    QuotaExhausted,
    RateLimited,
    Transient,
)

__all__ = ["RETRY_BASE", "RETRY_MAX", "STOPS", "backoff", "guarded"]

RETRY_BASE = timedelta(seconds=30)
RETRY_MAX = timedelta(hours=1)
#: Errors that stop a push: nothing more is sent until they are fixed or pass.
STOPS = (ConfigurationError, AuthExpired, QuotaExhausted)


def guarded(send: Callable[[], list[WriteResult]], ids: Sequence[str]) -> list[WriteResult]:
    """``send()``'s results; when the request fails as a whole, one result per id."""
    try:
        return send()
    except STOPS:
        raise
    except (Transient, RateLimited) as exc:
        outcome, code = WriteOutcome.RETRY, exc.code or type(exc).__name__
        message = str(exc)
    except CrmError as exc:
        outcome, code = WriteOutcome.REJECTED, exc.code or "REQUEST_REFUSED"
        message = str(exc)
    return [WriteResult(i, outcome, code=code, message=message) for i in ids]


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failure: doubling from 30 s, at most 1 h."""
    delay: timedelta = RETRY_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, RETRY_MAX)
