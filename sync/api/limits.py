"""What keeps one client from hurting the others, and the access log.

- :class:`BodyLimit`: a request body larger than ``[api] max_body_bytes`` is refused with
  413 as soon as it is known to be (from ``Content-Length``, or while it streams in);
- :class:`RateLimiter`: a token bucket per API key (``[api] rate_per_second``, ``burst``);
  a request beyond it is 429 with ``Retry-After``. It counts in this process: each API
  process admits up to the rate, so a deployment of N API processes behind a balancer
  admits up to N times it;
- :class:`Concurrency`: at most ``[api] threads`` requests of this process work at once
  (each in a thread holding a store connection); the others wait their turn, in order;
- :class:`AccessLog`: one structlog line per request, with the key's prefix (never the
  key), the method, the route's template, the status and the duration.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import anyio.to_thread
import orjson
import structlog

from sync.api.errors import error_body

__all__ = ["AccessLog", "BodyLimit", "Concurrency", "RateLimiter"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

log = structlog.get_logger("partnersync.api")


async def _refuse(send: Send, status: int, body: dict[str, Any],
                  headers: list[tuple[bytes, bytes]] | None = None) -> None:  # fmt: skip
    payload = orjson.dumps(body)
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()), *(headers or [])],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, reading no further."""

    def __init__(self, app: App, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = error_body("too_large", f"the request body is over {self.limit:,} bytes")
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.limit:
                    await _refuse(send, 413, too_large)
                    return
        # The body is read first (it is small: at most the limit), so the app never sees
        # a part of one that is refused.
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _refuse(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class Concurrency:
    """At most ``threads`` requests of this process in their threads at once.

    Every route's work runs in a thread (the store's driver blocks). Past a few per core,
    more threads only contend for the CPU and the interpreter's lock: each one back from
    the store waits for the others' turns, and with 16 requests in flight a process did
    half the work it did with 4. The waiting requests queue on the event loop instead,
    costing nothing. (AnyIO's limiter of the event loop's threads, 40 by default.)"""

    def __init__(self, app: App, threads: int) -> None:
        self.app, self.threads = app, threads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = anyio.to_thread.current_default_thread_limiter()  # one per event loop
        if limiter.total_tokens != self.threads:
            limiter.total_tokens = self.threads
        await self.app(scope, receive, send)


class RateLimiter:
    """A token bucket per key: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if the request may go now, else the seconds until it may."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class AccessLog:
    """One ``api.request`` line per request: key prefix, method, route, status, ms."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            route = scope.get("route")
            state = scope.get("state") or {}
            log.info(
                "api.request",
                key=state.get("key_prefix"),
                method=scope.get("method"),
                route=getattr(route, "path", None) or "(no route)",
                status=status,
                ms=round((time.perf_counter() - started) * 1000, 2),
            )
