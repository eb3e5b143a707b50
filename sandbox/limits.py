"""Limits that depend on who calls and on what is in flight, beyond the rolling window.

- :class:`SearchLimiter`: HubSpot's search endpoints allow about 5 requests a second per
  access token (``hubspot_search_rate``), on top of the account's ten-second window;
- :class:`LongRequests`: Salesforce refuses a new request while ``salesforce_concurrent_limit``
  requests that have each run longer than ``salesforce_long_request_seconds`` are in flight
  (403 ``REQUEST_LIMIT_EXCEEDED``, "ConcurrentRequests Limit exceeded.": transient).

Both count on the monotonic clock (real seconds), never on the sandbox clock, which tests
freeze.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from sandbox.knobs import RateLimitSpec, RollingWindow

__all__ = ["LongRequests", "SearchLimiter"]


class SearchLimiter:
    """One rolling window per access token for the search endpoints (none: no limit)."""

    def __init__(self, spec: RateLimitSpec | None) -> None:
        self.spec = spec
        self._windows: dict[str, RollingWindow] = {}
        self._lock = threading.Lock()

    def acquire(self, token: str) -> tuple[bool, int, int]:
        """Record a search by ``token`` if allowed: ``(allowed, remaining, retry_after)``."""
        if self.spec is None:
            return True, 0, 0
        with self._lock:
            window = self._windows.get(token)
            if window is None:
                window = self._windows[token] = RollingWindow(self.spec)
        return window.acquire()


class LongRequests:
    """The Salesforce API requests in flight and when each began (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started: dict[int, float] = {}
        self._ids = itertools.count()
        self._lock = threading.Lock()

    def enter(self) -> int:
        """A request arrived; the ticket to :meth:`leave` with."""
        ticket = next(self._ids)
        with self._lock:
            self._started[ticket] = self._clock()
        return ticket

    def leave(self, ticket: int) -> None:
        """The request of ``ticket`` was answered."""
        with self._lock:
            self._started.pop(ticket, None)

    def running_longer_than(self, seconds: float) -> int:
        """How many requests in flight have run longer than ``seconds``."""
        now = self._clock()
        with self._lock:
            return sum(1 for began in self._started.values() if now - began > seconds)

    def __len__(self) -> int:
        with self._lock:
            return len(self._started)
