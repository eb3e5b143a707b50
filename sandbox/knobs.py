"""Realism knobs of the CRM sandbox: latency, fault injection and rate limits.

A fault spec is a comma-separated list, e.g. ``503:0.05,lock:0.02,expire-session-after:500``:

- ``500:P`` / ``502:P`` / ``503:P`` / ``504:P``: answer that status with probability P
  (0..1) instead of serving the call, with the error body of the API called;
- ``429:P``: a HubSpot ``RATE_LIMIT`` answer with probability P (Salesforce has no 429);
- ``lock:P``: each Salesforce record write fails with ``UNABLE_TO_LOCK_ROW`` with
  probability P;
- ``expire-session-after:N``: a session id / access token stops working after N calls;
  a new one comes from the login endpoints;
- ``retry-after:S``: the ``Retry-After`` (seconds) sent with injected 429s (default 1);
- ``seed:N``: the random seed of the fault draws (default 0), so a run is reproducible.

A rate spec is ``CALLS/SECONDSs`` (``100/10s``: at most 100 calls in any rolling 10
seconds). The other knobs of :class:`~sandbox.core.SandboxConfig` are checked by
:func:`check_seconds`, :func:`check_count`, :func:`check_url` and :func:`check_org_id`;
every refusal is a :class:`FaultSpecError` naming the knob and what it accepts.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "FaultSpec",
    "FaultSpecError",
    "Faults",
    "RateLimitSpec",
    "RollingWindow",
    "check_count",
    "check_org_id",
    "check_seconds",
    "check_url",
    "parse_faults",
    "parse_rate",
]

_STATUS_FAULTS = frozenset({500, 502, 503, 504, 429})


class FaultSpecError(ValueError):
    """A fault or rate spec that cannot be parsed; the message names the bad part."""


@dataclass(frozen=True)
class FaultSpec:
    """Parsed fault spec: probabilities per status, lock probability and session life."""

    statuses: tuple[tuple[int, float], ...] = ()
    lock: float = 0.0
    expire_session_after: int | None = None
    retry_after: int = 1
    seed: int = 0

    def __str__(self) -> str:
        parts = [f"{status}:{p:g}" for status, p in self.statuses]
        if self.lock:
            parts.append(f"lock:{self.lock:g}")
        if self.expire_session_after is not None:
            parts.append(f"expire-session-after:{self.expire_session_after}")
        return ",".join(parts)


def _probability(part: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise FaultSpecError(f"fault {part!r}: {raw!r} is not a probability") from None
    if not 0.0 <= value <= 1.0:
        raise FaultSpecError(f"fault {part!r}: probability must be between 0 and 1")
    return value


def _count(part: str, raw: str) -> int:
    if not raw.isdigit():
        raise FaultSpecError(f"fault {part!r}: {raw!r} is not a whole number")
    return int(raw)


def parse_faults(spec: str | None) -> FaultSpec:
    """Parse ``503:0.05,lock:0.02,expire-session-after:500`` into a :class:`FaultSpec`."""
    if not spec or not spec.strip():
        return FaultSpec()
    statuses: dict[int, float] = {}
    lock = 0.0
    expire: int | None = None
    retry_after = 1
    seed = 0
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, raw = part.partition(":")
        if not sep:
            raise FaultSpecError(f"fault {part!r}: expected NAME:VALUE")
        name = name.strip().lower()
        raw = raw.strip()
        if name.isdigit():
            status = int(name)
            if status not in _STATUS_FAULTS:
                allowed = ", ".join(str(s) for s in sorted(_STATUS_FAULTS))
                raise FaultSpecError(f"fault {part!r}: status must be one of {allowed}")
            statuses[status] = _probability(part, raw)
        elif name == "lock":
            lock = _probability(part, raw)
        elif name == "expire-session-after":
            expire = _count(part, raw)
            if expire < 1:
                raise FaultSpecError(f"fault {part!r}: must be at least 1")
        elif name == "retry-after":
            retry_after = _count(part, raw)
        elif name == "seed":
            seed = _count(part, raw)
        else:
            raise FaultSpecError(
                f"fault {part!r}: unknown fault {name!r} (expected one of: 500, 502, 503, "
                "504, 429, lock, expire-session-after, retry-after, seed)"
            )
    return FaultSpec(tuple(sorted(statuses.items())), lock, expire, retry_after, seed)


class Faults:
    """Draws injected faults from a seeded random source (thread-safe)."""

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._random = random.Random(spec.seed)
        self._lock = threading.Lock()

    def draw_status(self, *, allow_429: bool) -> int | None:
        """The status to answer instead of serving this call, or ``None``."""
        with self._lock:
            for status, probability in self.spec.statuses:
                if status == 429 and not allow_429:
                    continue
                if probability and self._random.random() < probability:
                    return status
        return None

    def draw_lock(self) -> bool:
        """Whether this record write hits ``UNABLE_TO_LOCK_ROW``."""
        if not self.spec.lock:
            return False
        with self._lock:
            return self._random.random() < self.spec.lock


@dataclass(frozen=True)
class RateLimitSpec:
    """At most ``max_calls`` calls in any rolling ``interval_seconds``."""

    max_calls: int
    interval_seconds: float


def parse_rate(spec: str | None) -> RateLimitSpec | None:
    """Parse ``100/10s`` (calls per rolling window); ``None`` or ``""`` means no limit."""
    if not spec or not spec.strip():
        return None
    calls, sep, window = spec.strip().partition("/")
    window = window.strip().lower().removesuffix("s")
    try:
        max_calls = int(calls)
        interval = float(window) if window else 1.0
    except ValueError:
        raise FaultSpecError(f"rate {spec!r}: expected CALLS/SECONDSs, e.g. 100/10s") from None
    if not sep or max_calls < 1 or interval <= 0:
        raise FaultSpecError(f"rate {spec!r}: expected CALLS/SECONDSs, e.g. 100/10s")
    return RateLimitSpec(max_calls, interval)


@dataclass
class RollingWindow:
    """A rolling-window call limiter on the monotonic clock."""

    spec: RateLimitSpec
    _calls: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self) -> tuple[bool, int, int]:
        """Record a call if allowed: ``(allowed, remaining, retry_after_seconds)``."""
        now = time.monotonic()
        with self._lock:
            horizon = now - self.spec.interval_seconds
            while self._calls and self._calls[0] <= horizon:
                self._calls.popleft()
            if len(self._calls) >= self.spec.max_calls:
                wait = self._calls[0] + self.spec.interval_seconds - now
                return False, 0, max(1, math.ceil(wait))
            self._calls.append(now)
            return True, self.spec.max_calls - len(self._calls), 0


def check_seconds(
    name: str, value: object, *, positive: bool = False, unit: str = "seconds"
) -> float:
    """A duration knob (in ``unit``): a finite number, at least 0 (above 0 if
    ``positive``)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FaultSpecError(f"{name}: expected a number of {unit}, got {value!r}")
    try:
        amount = float(value)
    except ValueError:
        raise FaultSpecError(f"{name}: expected a number of {unit}, got {value!r}") from None
    if not math.isfinite(amount) or amount < 0 or (positive and amount == 0):
        bound = "above 0" if positive else "0 or more"
        raise FaultSpecError(f"{name}: {unit} must be finite and {bound}, got {value!r}")
    return amount


def check_count(name: str, value: object, *, minimum: int = 1) -> int:
    """A whole-number knob of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise FaultSpecError(f"{name}: expected a whole number, got {value!r}")
    text = str(value).strip()
    if not text.lstrip("-").isdigit() or int(text) < minimum:
        raise FaultSpecError(
            f"{name}: expected a whole number of at least {minimum}, got {value!r}"
        )
    return int(text)


def check_url(name: str, value: object) -> str | None:
    """A webhook target: an absolute ``http``/``https`` URL, or ``None`` / ``""`` for none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise FaultSpecError(f"{name}: expected a URL, got {value!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FaultSpecError(f"{name}: expected an absolute http:// or https:// URL, got {value!r}")
    return value.strip()


_ORG_ID = re.compile(r"00D[A-Za-z0-9]{15}")


def check_org_id(name: str, value: object) -> str:
    """A Salesforce organization id in its 18-character form (``00D`` + 15 letters/digits),
    as Outbound Messages carry it."""
    if not isinstance(value, str) or not _ORG_ID.fullmatch(value):
        raise FaultSpecError(
            f"{name}: expected an 18-character organization id (00D and 15 letters or "
            f"digits), got {value!r}"
        )
    return value
