"""Asynchronous delivery of the sandbox's change notifications, with batching and retries.

A change calls :meth:`Webhooks.hubspot_change` or :meth:`Webhooks.salesforce_change`
while the CRM request that made it is being served: that only appends to a queue (and
does nothing when no URL is configured), so it never blocks nor fails the request. One
background thread per sandbox, started at the first notification, does the rest:

- events of one API that occur within ``webhook_debounce_seconds`` of the first waiting
  one go out together, at most 100 a request;
- a HubSpot delivery succeeds on any 2xx; a Salesforce one on a 200 whose SOAP body
  acknowledges it (``<Ack>true</Ack>``); anything else, a timeout (HubSpot 5 s,
  Salesforce 60 s) or a connection error is a failure, retried after
  ``webhook_retry_seconds``, doubling each time (at most 60 s), ``webhook_attempts``
  attempts in all, then dropped. Retries go out while newer batches do too, so delivery
  is out of order, as on the real services.

Counters (per API: events queued, requests acknowledged, events delivered, failed
attempts, events dropped, events waiting) are in :meth:`Webhooks.snapshot` and in
``GET /_sandbox/stats``. :meth:`Webhooks.flush` waits until nothing is waiting (tests);
:meth:`Webhooks.close` stops the thread.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sandbox.webhooks.hubspot import MAX_EVENTS, ChangeSource, EventIds, deal_events
from sandbox.webhooks.hubspot import hubspot_request as _hubspot_request
from sandbox.webhooks.salesforce import (
    MAX_NOTIFICATIONS,
    Notification,
    acknowledged,
    notification,
    outbound_message,
)

if TYPE_CHECKING:
    from sandbox.core import Api, Sandbox, SandboxConfig

__all__ = ["MAX_RETRY_GAP", "Webhooks"]

#: The longest wait between two attempts of one delivery (seconds).
MAX_RETRY_GAP = 60.0
_TIMEOUT = {"hubspot": 5.0, "salesforce": 60.0}
_BATCH = {"hubspot": MAX_EVENTS, "salesforce": MAX_NOTIFICATIONS}
_COUNTERS = ("queued", "delivered", "events_delivered", "failures", "dropped")


@dataclass(order=True)
class _Delivery:
    """One request's worth of events, and when its next attempt is due (monotonic)."""

    due: float
    seq: int
    api: Api = field(compare=False)
    events: list[Any] = field(compare=False)
    attempt: int = field(default=0, compare=False)


class Webhooks:
    """The change notifications of one sandbox (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._cond = threading.Condition()
        self._waiting: dict[Api, list[Any]] = {"hubspot": [], "salesforce": []}
        self._first: dict[Api, float] = {}
        self._retries: list[_Delivery] = []
        self._sending = 0
        self._seq = itertools.count()
        self._counts: dict[Api, Counter[str]] = {"hubspot": Counter(), "salesforce": Counter()}
        self._thread: threading.Thread | None = None
        self._stop = False
        self.event_ids = EventIds()

    # --- what changes call (under the sandbox lock: append only) ------------------------

    def hubspot_change(
        self,
        action: str,
        object_id: str,
        properties: Mapping[str, str | None],
        occurred_at_ms: int,
        source: ChangeSource,
    ) -> None:
        """A deal was created, updated (``properties``: the values written, on the wire)
        or deleted."""
        if not self._sandbox.config.hubspot_webhook_url:
            return
        assert action in ("create", "update", "delete")
        events = deal_events(
            action,  # type: ignore[arg-type]
            object_id,
            properties,
            occurred_at_ms=occurred_at_ms,
            source=source,
            event_id=self.event_ids,
        )
        self._queue("hubspot", events)

    def salesforce_change(self, sobject: str, record: Mapping[str, Any]) -> None:
        """A record was created or updated (``record``: its stored fields, now)."""
        if not self._sandbox.config.salesforce_outbound_url:
            return
        self._queue("salesforce", [notification(sobject, record)])

    def wanted(self, api: Api) -> bool:
        """Whether changes of ``api`` are being sent (callers may skip building them)."""
        config = self._sandbox.config
        url = config.hubspot_webhook_url if api == "hubspot" else config.salesforce_outbound_url
        return bool(url)

    def _queue(self, api: Api, events: list[Any]) -> None:
        if not events:
            return
        with self._cond:
            if not self._waiting[api]:
                self._first[api] = time.monotonic()
            self._waiting[api].extend(events)
            self._counts[api]["queued"] += len(events)
            self._stop = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="crm-sandbox-webhooks", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()

    # --- observing and stopping ------------------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Per API: ``queued`` (events), ``delivered`` (requests acknowledged),
        ``events_delivered``, ``failures`` (attempts not acknowledged), ``dropped`` (events
        given up) and ``waiting`` (events neither acknowledged nor dropped yet)."""
        with self._cond:
            out: dict[str, dict[str, int]] = {}
            for api, counts in self._counts.items():
                waiting = len(self._waiting[api]) + sum(
                    len(d.events) for d in self._retries if d.api == api
                )
                out[api] = {name: counts[name] for name in _COUNTERS} | {"waiting": waiting}
            return out

    @property
    def running(self) -> bool:
        """Whether the delivery thread is alive (it starts with the first notification)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def reset(self) -> None:
        """Zero the counters (not the queues)."""
        with self._cond:
            for counts in self._counts.values():
                counts.clear()

    def _idle(self) -> bool:
        return not (any(self._waiting.values()) or self._retries or self._sending)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued event was delivered or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._idle():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread (within ``timeout`` seconds); what waits is dropped."""
        with self._cond:
            self._stop = True
            thread = self._thread
            for api, events in self._waiting.items():
                self._counts[api]["dropped"] += len(events)
                events.clear()
            for delivery in self._retries:
                self._counts[delivery.api]["dropped"] += len(delivery.events)
            self._retries.clear()
            self._cond.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # --- the delivery thread ------------------------------------------------------------

    def _next(self, now: float, config: SandboxConfig) -> tuple[_Delivery | None, float | None]:
        """A delivery due now, else how long to wait for one (None: until notified)."""
        if self._retries and self._retries[0].due <= now:
            return heapq.heappop(self._retries), None
        wake = self._retries[0].due if self._retries else None
        for api, events in self._waiting.items():
            if not events:
                continue
            ready = self._first[api] + config.webhook_debounce_seconds
            if ready <= now or len(events) >= _BATCH[api]:
                batch = events[: _BATCH[api]]
                del events[: _BATCH[api]]
                return _Delivery(now, next(self._seq), api, batch), None
            wake = ready if wake is None else min(wake, ready)
        return None, None if wake is None else max(0.0, wake - now)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stop:
                        return
                    delivery, wait = self._next(time.monotonic(), self._sandbox.config)
                    if delivery is not None:
                        self._sending += 1
                        break
                    self._cond.wait(wait)
            ok: bool | None = None
            try:
                ok = self._send(delivery)
            finally:
                with self._cond:
                    self._sending -= 1
                    self._settle(delivery, ok)
                    self._cond.notify_all()

    def _settle(self, delivery: _Delivery, ok: bool | None) -> None:
        counts = self._counts[delivery.api]
        if ok:
            counts["delivered"] += 1
            counts["events_delivered"] += len(delivery.events)
            return
        if ok is None:  # no URL any more: nowhere to send
            counts["dropped"] += len(delivery.events)
            return
        counts["failures"] += 1
        config = self._sandbox.config
        delivery.attempt += 1
        if delivery.attempt >= config.webhook_attempts or self._stop:
            counts["dropped"] += len(delivery.events)
            return
        gap = min(config.webhook_retry_seconds * 2 ** (delivery.attempt - 1), MAX_RETRY_GAP)
        delivery.due = time.monotonic() + gap
        heapq.heappush(self._retries, delivery)

    def _send(self, delivery: _Delivery) -> bool | None:
        """One attempt: True if acknowledged, False if not, None if there is no URL."""
        config = self._sandbox.config
        if delivery.api == "hubspot":
            url = config.hubspot_webhook_url
            if not url:
                return None
            body, headers = _hubspot_request(
                url, config.hubspot_client_secret, delivery.events, delivery.attempt
            )
        else:
            url = config.salesforce_outbound_url
            if not url:
                return None
            notifications: list[Notification] = delivery.events
            base = self._sandbox.url or "http://127.0.0.1"
            body = outbound_message(notifications, config.salesforce_organization_id, base)
            headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}
        try:
            status, answer = _post(url, body, headers, _TIMEOUT[delivery.api])
        except (OSError, ValueError, http.client.HTTPException):  # refused, reset, timeout
            return False
        if delivery.api == "hubspot":
            return 200 <= status < 300
        return acknowledged(status, answer)


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int, bytes]:
    """POST ``body`` to ``url`` (http or https, no proxy, no redirect); the status and
    body of the answer. Header names go out exactly as given."""
    parts = urlsplit(url)
    connection_type = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_type(parts.hostname or "", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
