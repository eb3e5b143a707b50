"""CRM call limits shared by every worker of a daemon.

Each connector retries a 429 by itself, but a retried call is a call spent, and ten
workers each keeping under HubSpot's burst still break it together. So before each call a
connector waits at one gate (:class:`~connectors.retry.CallGate`) that all workers share:

- HubSpot: ``[hubspot] burst_per_10s`` calls per 10 seconds (the private app's burst),
  and ``[hubspot] search_per_second`` searches a second (about 5);
- Salesforce: at most ``[salesforce] concurrent_requests`` calls in flight at once (its
  limit on concurrent long-running requests); a slot a dead worker held lapses after a
  minute.

With a Redis broker the counts live in that Redis (dramatiq's rate limiters), so every
worker process on every machine draws from them; with the in-process queue they live in
the process. Windows are counted in whole seconds over one second more than the span, so
no rolling window of the span can hold more than the limit.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Protocol

from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend, StubBackend

from sync.settings import Settings

__all__ = ["SharedLimits", "shared_limits"]

_PREFIX = "partnersync:limits"
#: How long a call's slot outlives a worker that died holding it (a call's timeout is
#: 120 s; a live call longer than this lets one more in, no worse than the CRM's own 403).
SLOT_SECONDS = 60.0


class _Slots(Protocol):
    """At most ``limit`` holders at once; each slot lapses after ``SLOT_SECONDS``."""

    def take(self) -> str | None: ...

    def give_back(self, token: str) -> None: ...


class _LocalSlots:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self) -> str | None:
        now = time.monotonic()
        with self._lock:
            self._held = {t: until for t, until in self._held.items() if until > now}
            if len(self._held) >= self.limit:
                return None
            token = uuid.uuid4().hex
            self._held[token] = now + SLOT_SECONDS
            return token

    def give_back(self, token: str) -> None:
        with self._lock:
            self._held.pop(token, None)


#: Drop lapsed slots, then take one if fewer than the limit are held (Redis' own clock,
#: so workers on machines whose clocks differ agree).
_TAKE = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0
"""


class _RedisSlots:
    def __init__(self, client: Any, key: str, limit: int) -> None:
        self.client, self.key, self.limit = client, key, limit
        self._take = client.register_script(_TAKE)

    def take(self) -> str | None:
        token = uuid.uuid4().hex
        taken = self._take(keys=[self.key], args=[self.limit, int(SLOT_SECONDS * 1000), token])
        return token if taken else None

    def give_back(self, token: str) -> None:
        self.client.zrem(self.key, token)


class SharedLimits:
    """The gate of every connector of a daemon, over one rate-limit ``backend``."""

    def __init__(self, backend: Any, *, hubspot_burst: int, hubspot_burst_seconds: int = 10,
                 hubspot_search: int, salesforce_concurrent: int) -> None:  # fmt: skip
        burst = WindowRateLimiter(  # type: ignore[no-untyped-call]
            backend, f"{_PREFIX}:hubspot:burst", limit=hubspot_burst,
            window=hubspot_burst_seconds + 1)  # fmt: skip
        search = WindowRateLimiter(  # type: ignore[no-untyped-call]
            backend, f"{_PREFIX}:hubspot:search", limit=hubspot_search, window=2
        )
        self._windows: dict[str, list[Any]] = {"call": [burst], "search": [search, burst]}
        self._slots: _Slots = (
            _RedisSlots(backend.client, f"{_PREFIX}:salesforce:concurrent", salesforce_concurrent)
            if isinstance(backend, RedisBackend)
            else _LocalSlots(salesforce_concurrent)
        )
        #: How many times a call waited for a limit (for the metrics and the log).
        self.waits = 0

    @contextmanager
    def __call__(self, crm: str, kind: str) -> Iterator[None]:
        if crm == "salesforce":
            token = self._wait_for(self._slots.take)
            try:
                yield
            finally:
                self._slots.give_back(token)
            return
        with ExitStack() as held:
            for limiter in self._windows.get(kind, []) if crm == "hubspot" else []:
                held.enter_context(self._window(limiter))
            yield

    @contextmanager
    def _window(self, limiter: Any) -> Iterator[None]:
        while True:
            with limiter.acquire(raise_on_failure=False) as acquired:
                if acquired:
                    yield
                    return
            self._pause()

    def _wait_for(self, take: Any) -> str:
        while (token := take()) is None:
            self._pause()
        return str(token)

    def _pause(self) -> None:
        self.waits += 1
        time.sleep(0.02 + 0.1 * random.random())


_made: dict[str, SharedLimits] = {}


def shared_limits(settings: Settings) -> SharedLimits:
    """The gate for ``settings``' broker: one per process and broker."""
    url = settings.queue.broker
    if url not in _made:
        backend: Any = StubBackend() if url == "memory" else RedisBackend(url=url)  # type: ignore[no-untyped-call]
        _made[url] = SharedLimits(
            backend,
            hubspot_burst=settings.hubspot.burst_per_10s,
            hubspot_search=settings.hubspot.search_per_second,
            salesforce_concurrent=settings.salesforce.concurrent_requests,
        )
    return _made[url]
